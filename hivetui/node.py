"""A running hive node: the core plus its edges (backend, bridge, control, crash_watch, SSH).

This is the process-level wiring shared by `hivetui`, `hivetui serve` and `hivetui demo`.
``async with HiveNode(...)`` opens the core and starts its services; the embedded app
instead calls :meth:`HiveNode.open` (the core alone: enough to show the fleet) and then
:meth:`HiveNode.start_services` behind its first frame.

Start order: the store, the control socket (operators are answered from here on), the MCP
bridge (its import -- the mcp package -- is most of a start, so it runs in a thread while
the control socket and the event loop already answer; container operations wait for the
bridge's address), unfinished approvals resumed, then crash_watch's reconciling pass.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from hivetui.broker.credential import load_credential
from hivetui.control.server import ControlServer
from hivetui.control.sessions import SessionTokens
from hivetui.core.config import HiveConfig
from hivetui.core.crash_watch import CrashWatch
from hivetui.core.errors import BridgeError, ConfigError
from hivetui.core.hive import Hive
from hivetui.core.paths import StatePaths
from hivetui.core.ports import ContainerBackend

if TYPE_CHECKING:
    from hivetui.bridge.server import Bridge
    from hivetui.broker.server import Broker

log = logging.getLogger(__name__)


def make_backend(config: HiveConfig, paths: StatePaths) -> ContainerBackend:
    if config.backend == "local":
        from hivetui.containers.local import LocalBackend

        return LocalBackend(paths.containers, allow_unisolated=config.allow_unisolated,
                            log_caps=config.logs)
    if config.backend == "nixos":
        from hivetui.containers.nixos import NixosBackend

        return NixosBackend(paths.root / "nixos")
    raise ConfigError(f"backend must be 'local' or 'nixos', got {config.backend!r}")


class HiveNode:
    """``async with HiveNode(state_dir, config) as node: node.hive, node.bridge.url, …``"""

    def __init__(self, state_dir: Path, config: HiveConfig | None = None, *,
                 socket: Path | None = None, backend: ContainerBackend | None = None,
                 containers: bool = True) -> None:
        self.config = config or HiveConfig()
        self.paths = StatePaths(state_dir)
        self.paths.prepare()
        if backend is None and containers:
            backend = make_backend(self.config, self.paths)
        self.hive = Hive(state_dir, self.config, backend)
        self.sessions = SessionTokens()
        self._bridge: Bridge | None = None
        self._broker: Broker | None = None
        self.control = ControlServer(self.hive, socket, self.sessions)
        self.crash_watch = CrashWatch(self.hive, backend) if backend is not None else None

    @property
    def bridge(self) -> Bridge:
        if self._bridge is None:
            raise BridgeError("the MCP bridge is not started yet (HiveNode.start_services)")
        return self._bridge

    async def __aenter__(self) -> HiveNode:
        await self.open()
        try:
            await self.start_services()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def open(self) -> None:
        """Open the core alone (store, registry, bus): the hive can be looked at, and no
        container starts until :meth:`start_services` has the bridge up."""
        if self.hive.lifecycle is not None:
            self.hive.lifecycle.expect_bridge()
        await self.hive.__aenter__()

    async def start_services(self) -> None:
        """Control socket, the MCP bridge, unfinished approvals resumed, crash_watch
        (seeded); returns once all are up. The services belong to the hive's task group,
        not to the caller."""
        self.hive.add_service("control", self.control.run)
        await self.control.ready()
        await self._start_broker()
        started = time.monotonic()
        server = await asyncio.to_thread(importlib.import_module, "hivetui.bridge.server")
        log.info("the bridge's modules took %.2fs to import", time.monotonic() - started)
        self._bridge = server.Bridge(self.hive, self.config.bridge.host,
                                     self.config.bridge.port)
        self.hive.add_service("bridge", self._bridge.run)
        await self._bridge.ready()
        if self.hive.lifecycle is not None:  # containers that outlived the previous core
            await self.hive.lifecycle.serve_networks()
        # before crash_watch reconciles: a resumed approval may still build or start the
        # very containers it would otherwise report
        await self.hive.approvals.resume()
        if self.crash_watch is not None:
            self.hive.add_service("crash_watch", self.crash_watch.run)
            await self.crash_watch.seeded.wait()

    async def _start_broker(self) -> None:
        """The credential broker, before the bridge: a container's bridge.json names both.
        A key file that may not be used (readable by others, say) stops the start here."""
        credential = load_credential(self.config.anthropic)
        server = await asyncio.to_thread(importlib.import_module, "hivetui.broker.server")
        self._broker = server.Broker(self.hive, self.config.bridge.host, credential=credential)
        self.hive.add_service("broker", self._broker.run)
        await self._broker.ready()

    @property
    def broker(self) -> Broker:
        if self._broker is None:
            raise BridgeError("the credential broker is not started yet (start_services)")
        return self._broker

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def stop_all(self) -> None:
        """Stop every agent's container (containers otherwise outlive the core by design)."""
        lifecycle = self.hive.lifecycle
        if lifecycle is None:
            return
        for name in sorted(await lifecycle.backend.running()):
            if self.hive.registry.find(name) is not None:
                try:
                    await lifecycle.stop(name)
                except Exception:
                    log.exception("could not stop %s", name)
            else:
                await lifecycle.backend.stop(name)

    async def aclose(self) -> None:
        if self._bridge is not None:
            await self._bridge.aclose()
        if self._broker is not None:
            await self._broker.aclose()
        await self.hive.aclose()
