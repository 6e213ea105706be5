"""Where everything lives under the state dir."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private_file(path: Path, data: str) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "hive.sqlite3"

    @property
    def run(self) -> Path:
        """0700: the control socket and the bridge address."""
        return self.root / "run"

    @property
    def control_socket(self) -> Path:
        return self.run / "control.sock"

    @property
    def bridge_file(self) -> Path:
        return self.run / "bridge.json"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "hivetui.log"

    @property
    def agents(self) -> Path:
        return self.root / "agents"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    def agent_dir(self, name: str) -> Path:
        return self.agents / name

    @property
    def secrets(self) -> Path:
        """0700: per-agent run dirs with tokens, kept apart from ``agents/`` (which the
        manager's container sees) so no agent can ever read another's token."""
        return self.root / "secrets"

    def agent_run(self, name: str) -> Path:
        """Bound into the container at /run/hive: token and MCP config."""
        return self.secrets / name

    def agent_state(self, name: str) -> Path:
        """Bound into the container at /state: the agent's persistent files."""
        return self.agent_dir(name) / "state"

    def agent_config(self, name: str) -> Path:
        """The proposed config repo (git working copy)."""
        return self.agent_dir(name) / "config"

    def agent_log(self, name: str) -> Path:
        """Outside agents/: no agent (not even the manager, which sees agents/) writes it."""
        return self.log_dir / "agents" / f"{name}.log"

    @property
    def containers(self) -> Path:
        """0700: container backends' bookkeeping (supervisor plans, pids, exit status),
        outside agents/ so the manager's view of agents/ cannot reach it."""
        return self.root / "containers"

    def prepare(self) -> None:
        ensure_private_dir(self.root)
        ensure_private_dir(self.run)
        ensure_private_dir(self.log_dir)
        ensure_private_dir(self.agents)
        ensure_private_dir(self.secrets)
        ensure_private_dir(self.containers)
