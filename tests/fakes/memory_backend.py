"""FakeMemoryBackend: an in-memory ContainerBackend for core tests that need no processes.

It follows the protocol's contract (hivetui.core.ports): ``running()`` is the set of live
containers; ``exits()`` yields a ContainerExit when a container's process ends, including
after ``stop``; ``crash(name)`` simulates the process dying on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hivetui.core.errors import ContainerError
from hivetui.core.ports import ContainerExit, ContainerSpec


class FakeMemoryBackend:
    name = "fake-memory"

    def __init__(self, *, event_driven: bool = True, stop_delay: float = 0.0) -> None:
        self.specs: dict[str, ContainerSpec] = {}
        self.live: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.event_driven = event_driven
        self.stop_delay = stop_delay
        self._exits: asyncio.Queue[ContainerExit] = asyncio.Queue()
        self.log_lines: dict[str, list[str]] = {}

    async def create(self, spec: ContainerSpec) -> None:
        self.calls.append(("create", spec.name))
        self.specs[spec.name] = spec

    async def start(self, name: str) -> None:
        self.calls.append(("start", name))
        if name not in self.specs:
            raise ContainerError(f"no container for {name}")
        self.live.add(name)

    async def _end(self, name: str, status: int | None) -> None:
        if name in self.live:
            self.live.discard(name)
            if self.event_driven:
                self._exits.put_nowait(ContainerExit(name, status))

    async def stop(self, name: str) -> None:
        self.calls.append(("stop", name))
        if self.stop_delay:
            await asyncio.sleep(self.stop_delay)
        await self._end(name, -15)
        await asyncio.sleep(0)

    async def restart(self, name: str) -> None:
        await self.stop(name)
        await self.start(name)

    async def destroy(self, name: str) -> None:
        self.calls.append(("destroy", name))
        await self._end(name, -15)
        self.specs.pop(name, None)

    async def rebuild(self, spec: ContainerSpec) -> None:
        self.calls.append(("rebuild", spec.name))
        was = spec.name in self.live
        await self._end(spec.name, -15)
        self.specs[spec.name] = spec
        if was:
            self.live.add(spec.name)

    async def running(self) -> set[str]:
        return set(self.live)

    def shell_argv(self, name: str) -> list[str]:
        return ["/bin/sh"]

    async def logs(self, name: str, lines: int) -> list[str]:
        return self.log_lines.get(name, [])[-lines:]

    async def follow_logs(self, name: str) -> AsyncIterator[str]:
        for line in self.log_lines.get(name, []):
            yield line

    def exits(self) -> AsyncIterator[ContainerExit] | None:
        return self._iter_exits() if self.event_driven else None

    async def _iter_exits(self) -> AsyncIterator[ContainerExit]:
        while True:
            yield await self._exits.get()

    async def aclose(self) -> None:
        return None

    # --- test controls ------------------------------------------------------
    async def crash(self, name: str, status: int = 1) -> None:
        """The container's process dies on its own."""
        self.log_lines.setdefault(name, []).append(f"{name}: fatal error, exiting {status}")
        await self._end(name, status)
