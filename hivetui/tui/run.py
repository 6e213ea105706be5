"""Entry points the CLI calls: the app embedded with a core, attached, or as the demo."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hivetui.control.client import ControlClient
from hivetui.core.config import HiveConfig
from hivetui.core.operator import Operator, OperatorSession
from hivetui.terminal.palette import XTERM, Rgb
from hivetui.tui.app import HiveApp, create_app, run_app

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
        await run_app(api, embedded_hive=node.hive, start_services=node.start_services,
                      terminal_palette=config.terminal.colours())
    finally:
        await node.aclose()
    return 0


async def run_attached(socket: Path, timeout_s: float,
                       terminal_palette: Sequence[Rgb] = XTERM) -> int:
    """`hivetui attach`: the app against a core across its control socket; each request
    waits at most ``timeout_s`` (control.timeout_s); shells draw ``terminal_palette``
    (the attaching operator's terminal.palette)."""
    async with await ControlClient.connect(socket, timeout_s=timeout_s) as api:
        await run_app(api, terminal_palette=terminal_palette)
    return 0


async def run_demo_tui(state_dir: Path, config: HiveConfig) -> int:
    """`hivetui demo`: the embedded app over a throwaway hive running the demo scenario.

    Its containers outlive a core by design, so the demo stops them itself, also when its
    terminal hangs up (SIGHUP) or it is told to end (SIGTERM): the app exits, the scenario
    is cancelled (so no spawn of it is still under way), then every agent is stopped.
    """
    from hivetui.demo import DemoScenario
    from hivetui.node import HiveNode

    async with HiveNode(state_dir, config) as node:
        api = OperatorSession(node.hive, Operator.local())
        scenario = DemoScenario(api, auto=False)
        tasks = [asyncio.create_task(scenario.watch(), name="demo-watch"),
                 asyncio.create_task(scenario.run(), name="demo-scenario")]
        for task in tasks:
            task.add_done_callback(_log_failure)
        app = create_app(api, where="demo", terminal_palette=config.terminal.colours())
        try:
            with _exit_on(app, signal.SIGHUP, signal.SIGTERM):
                await app.run_async()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await node.stop_all()
    return 0


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


@contextmanager
def _exit_on(app: HiveApp, *signals: signal.Signals) -> Iterator[None]:
    """While inside, each of ``signals`` makes ``app`` exit (instead of ending the process
    before anything after the app runs)."""
    loop = asyncio.get_running_loop()

    def exit_app(signum: signal.Signals) -> None:
        log.info("%s: the app exits", signum.name)
        app.exit()

    for signum in signals:
        loop.add_signal_handler(signum, exit_app, signum)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
