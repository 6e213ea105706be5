"""Helpers for the approvals tests (no tests here): a recording fake backend, git as the
manager runs it inside its container, and a hive with a manager."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from hivetui.core.errors import ContainerError
from hivetui.core.hive import Hive
from hivetui.core.ports import ContainerExit, ContainerSpec
from tests.fakes.claude.scenarios import stub_claude


class FakeBackendRecorder:
    """An in-memory ContainerBackend (hivetui.core.ports contract) that records every call
    with the spec it got; ``fail_rebuild`` makes the next rebuilds raise like a backend
    whose build broke."""

    name = "fake-recorder"

    def __init__(self) -> None:
        self.specs: dict[str, ContainerSpec] = {}
        self.live: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.built: list[tuple[str, str, ContainerSpec]] = []  # (op, name, spec)
        self.fail_rebuild = False

    async def create(self, spec: ContainerSpec) -> None:
        self.calls.append(("create", spec.name))
        self.built.append(("create", spec.name, spec))
        self.specs[spec.name] = spec

    async def start(self, name: str) -> None:
        self.calls.append(("start", name))
        if name not in self.specs:
            raise ContainerError(f"no container for {name}")
        self.live.add(name)

    async def stop(self, name: str) -> None:
        self.calls.append(("stop", name))
        self.live.discard(name)

    async def restart(self, name: str) -> None:
        await self.stop(name)
        await self.start(name)

    async def destroy(self, name: str) -> None:
        self.calls.append(("destroy", name))
        self.live.discard(name)
        self.specs.pop(name, None)

    async def rebuild(self, spec: ContainerSpec) -> None:
        self.calls.append(("rebuild", spec.name))
        await asyncio.sleep(0.01)  # a rebuild takes a while: overlapping calls can meet
        if self.fail_rebuild:
            raise ContainerError(f"rebuild of h-{spec.name} failed (fake)")
        self.built.append(("rebuild", spec.name, spec))
        self.specs[spec.name] = spec

    async def running(self) -> set[str]:
        return set(self.live)

    def shell_argv(self, name: str) -> list[str]:
        return ["/bin/sh"]

    async def logs(self, name: str, lines: int) -> list[str]:
        return []

    async def follow_logs(self, name: str) -> AsyncIterator[str]:
        lines: list[str] = []
        for line in lines:
            yield line

    def exits(self) -> AsyncIterator[ContainerExit] | None:
        return None

    async def aclose(self) -> None:
        return None

    def count(self, op: str, name: str) -> int:
        return self.calls.count((op, name))


def manager_git(repo: Path, *args: str) -> str:
    """git as the manager runs it in its container: no global or system config at all,
    so only the repo's own user.name/email can make a commit work."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "LC_ALL": "C"}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"git {args} failed: {done.stderr}")
    return done.stdout


def commit_change(repo: Path, files: dict[str, str], message: str = "change") -> str:
    """Write ``files`` into the proposed working copy and commit them; the new sha."""
    for rel, text in files.items():
        (repo / rel).write_text(text, encoding="utf-8")
    manager_git(repo, "add", "-A")
    manager_git(repo, "commit", "-q", "-m", message)
    return manager_git(repo, "rev-parse", "HEAD").strip()


def set_model(settings_text: str, model: str) -> str:
    lines = [f'model = "{model}"' if ln.startswith("model =") else ln
             for ln in settings_text.splitlines()]
    return "\n".join(lines) + "\n"


async def open_hive(root: Path, *, manager: bool = True
                    ) -> tuple[Hive, FakeBackendRecorder]:
    """A real hive (sqlite, git) on ``root`` with the recording backend; with ``manager``
    a manager agent ``boss`` spawned by the operator (so its inbox gets events)."""
    backend = FakeBackendRecorder()
    hive = Hive(root, backend=backend)
    await hive.__aenter__()
    assert hive.lifecycle is not None
    # spawns default to the claude runtime, which the core refuses without a program
    hive.lifecycle.claude_bin = stub_claude(root.parent / "bin")
    if manager:
        await hive.lifecycle.spawn("boss", runtime="scripted:manager", model="m",
                                   role="manager")
    return hive, backend
