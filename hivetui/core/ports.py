"""Protocols at the core's seams. Implementations live in the edge packages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hivetui.core.settings import AgentSettings


@dataclass(frozen=True)
class Bind:
    host: Path
    container: str
    writable: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a backend needs to create an agent's container."""

    name: str  # agent name; the container is h-<name>
    state_dir: Path  # host side of /state (writable, persistent)
    run_dir: Path  # host side of /run/hive (token, mcp.json)
    log_file: Path  # per-agent log with timestamps
    argv: tuple[str, ...]  # the first process: `hivetui harness ...`
    env: Mapping[str, str] = field(default_factory=dict)
    settings: AgentSettings = field(default_factory=AgentSettings)
    extra_binds: tuple[Bind, ...] = ()
    #: the agent's applied ``agent.nix`` (its config repo, as the operator approved it): an
    #: extra NixOS module for backends that build the container from Nix; "" for none
    nix_module: str = ""
    #: the host path of the ``claude`` program an agent with that runtime runs ("" for
    #: other runtimes): backends make it visible inside; the harness finds it in
    #: HIVETUI_CLAUDE_BIN
    claude_bin: str = ""


@dataclass(frozen=True)
class ContainerExit:
    """A container's main process ended (as the backend saw it)."""

    name: str
    status: int | None  # exit status where known; negative: killed by that signal
    #: True if this backend instance ended it on request (stop/restart/destroy/rebuild)
    requested: bool = False


class ContainerBackend(Protocol):
    """What the core needs from a container technology."""

    name: str

    async def create(self, spec: ContainerSpec) -> None: ...
    async def start(self, name: str) -> None: ...
    async def stop(self, name: str) -> None: ...
    async def restart(self, name: str) -> None: ...
    async def destroy(self, name: str) -> None: ...
    async def rebuild(self, spec: ContainerSpec) -> None: ...
    async def running(self) -> set[str]:
        """Agent names whose containers run now."""
        ...

    def shell_argv(self, name: str) -> list[str]:
        """argv that opens a root shell inside the container (embedded terminal)."""
        ...

    async def logs(self, name: str, lines: int) -> list[str]: ...
    def follow_logs(self, name: str) -> AsyncIterator[str]: ...
    def exits(self) -> AsyncIterator[ContainerExit] | None:
        """Event-driven exits if the backend learns of them at once, else None (poll only)."""
        ...

    async def aclose(self) -> None: ...
