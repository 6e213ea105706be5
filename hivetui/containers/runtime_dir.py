"""One local container's bookkeeping directory, as the backend reads it."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
from pathlib import Path
from typing import Any

from hivetui.containers import procinfo
from hivetui.containers.sandbox import SandboxPlan
from hivetui.core import beneath

log = logging.getLogger(__name__)

RUNTIME_FILES = ("supervisor.json", "container.json", "exit.json")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        log.warning("unreadable bookkeeping file %s", path)
        return None
    return data if isinstance(data, dict) else None


def chown_tree(path: Path, uid: int, gid: int | None) -> None:
    """chown ``path`` and everything below it (symlinks themselves, not their targets; the
    walk goes by directory descriptors, so a link swapped in meanwhile is never followed).
    ``path``'s parent is trusted (the core made it)."""
    beneath.chown_tree(path.parent, path.name, uid, uid if gid is None else gid)


def world_executable(path: str) -> bool:
    """Can any uid execute ``path`` (every directory on the way searchable by others)?"""
    real = Path(os.path.realpath(path))
    try:
        if not real.stat().st_mode & stat.S_IXOTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in real.parents)
    except OSError:
        return False


def world_readable(path: str) -> bool:
    """Can any uid read ``path`` (every directory on the way searchable by others)?"""
    real = Path(os.path.realpath(path))
    try:
        if not real.stat().st_mode & stat.S_IROTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in real.parents)
    except OSError:
        return False


class ContainerDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.pidfd: int | None = None

    def read_plan(self) -> SandboxPlan | None:
        try:
            return SandboxPlan.from_json((self.path / "plan.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def write_plan(self, plan: SandboxPlan) -> None:
        tmp = self.path / "plan.json.tmp"
        tmp.write_text(plan.to_json(), encoding="utf-8")
        os.chmod(tmp, 0o600)  # the env may hold secrets
        os.replace(tmp, self.path / "plan.json")

    def clear_runtime(self) -> None:
        for name in RUNTIME_FILES:
            (self.path / name).unlink(missing_ok=True)

    def supervisor(self) -> dict[str, Any] | None:
        return _read_json(self.path / "supervisor.json")

    def container(self) -> dict[str, Any] | None:
        return _read_json(self.path / "container.json")

    def exit_info(self) -> dict[str, Any] | None:
        return _read_json(self.path / "exit.json")

    def running(self) -> bool:
        """The container's pid 1 is alive and is the process that was recorded."""
        info = self.container()
        return info is not None and procinfo.is_alive(int(info["pid"]), int(info["start"]))

    def signal_container(self, signum: int) -> None:
        info = self.container()
        if info is None or not procinfo.is_alive(int(info["pid"]), int(info["start"])):
            return
        try:
            os.kill(int(info["pid"]), signum)
        except ProcessLookupError:
            pass

    def kill_orphan(self) -> None:
        """The supervisor is gone: a container still running has lost its log; end it."""
        if self.exit_info() is None and self.running():
            log.warning("container in %s lost its supervisor: killing it", self.path)
            self.signal_container(signal.SIGKILL)

    def abandon(self) -> None:
        """Kill the container and its supervisor (a start the backend gave up on)."""
        self.signal_container(signal.SIGKILL)
        sup = self.supervisor()
        if sup is not None and procinfo.is_alive(int(sup["pid"]), int(sup["start"])):
            os.kill(int(sup["pid"]), signal.SIGKILL)

    @staticmethod
    def parse_announcement(line: bytes) -> bool | str:
        """The supervisor's first line: True if the container runs, else the reason."""
        if not line:
            return "the supervisor said nothing (see supervisor.log beside plan.json)"
        try:
            data = json.loads(line)
        except ValueError:
            return f"unexpected supervisor output {line[:200]!r}"
        if data.get("ready") is True:
            return True
        return str(data.get("message", "unknown reason"))
