"""Entry points the CLI calls: the app embedded with a core, attached, or as the demo."""

from __future__ import annotations

import logging
from pathlib import Path

from hivetui.control.client import ControlClient
from hivetui.core.config import HiveConfig
from hivetui.core.operator import Operator, OperatorSession
from hivetui.tui.app import run_app

log = logging.getLogger(__name__)


async def run_embedded(state_dir: Path, config: HiveConfig, *, socket: Path | None = None
                       ) -> int:
    """`hivetui`: the core and the app in one process and one event loop.

    The app shows the opened core at once; the core's services (bridge, control socket,
    crash_watch) start behind its first frame ("starting…" in the header) and belong to
    the hive's own task group, not to the app: closing a screen never stops them.
    """
    from hivetui.node import HiveNode

    node = HiveNode(state_dir, config, socket=socket)
    await node.open()
    try:
        api = OperatorSession(node.hive, Operator.local())
        await run_app(api, embedded_hive=node.hive, start_services=node.start_services)
    finally:
        await node.aclose()
    return 0


async def run_attached(socket: Path) -> int:
    """`hivetui attach`: the app against a core across its control socket."""
    async with await ControlClient.connect(socket) as api:
        await run_app(api)
    return 0


async def run_demo_tui(state_dir: Path, config: HiveConfig) -> int:
    """`hivetui demo`: the embedded app over a throwaway hive running the demo scenario."""
    from hivetui.demo import DemoScenario
    from hivetui.node import HiveNode

    async with HiveNode(state_dir, config) as node:
        api = OperatorSession(node.hive, Operator.local())
        scenario = DemoScenario(api, auto=False)
        node.hive.add_service("demo-watch", scenario.watch)
        node.hive.add_service("demo-scenario", scenario.run)
        try:
            await run_app(api, embedded_hive=node.hive, where="demo")
        finally:
            await node.stop_all()
    return 0
