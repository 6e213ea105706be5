"""The embedded app's start-up: first frame from the opened core, services behind it.

A real HiveNode (real sqlite, real bridge on loopback, real control socket, real
crash_watch); only the containers are faked (``FakeMemoryBackend``, in memory). The
services' start is held at a gate so the test can press keys while it is pending.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Label

from hivetui.core.config import HiveConfig
from hivetui.core.errors import BridgeError
from hivetui.core.operator import Operator, OperatorSession
from hivetui.node import HiveNode
from hivetui.tui.app import HiveApp, create_app
from hivetui.tui.screens.command_line import CommandLineScreen
from hivetui.tui.screens.fleet import FleetScreen
from hivetui.tui.screens.help import HelpScreen
from hivetui.tui.widgets.chrome.hive_header import HiveHeader
from tests.fakes.memory_backend import FakeMemoryBackend
from tests.ssh_util import wait_until


def _starting_shown(app: HiveApp) -> bool:
    return bool(app.screen.query_one(HiveHeader).query_one("#starting", Label).display)


async def test_keys_work_while_the_services_start_and_the_state_clears_when_up(
        tmp_path: Path) -> None:
    node = HiveNode(tmp_path / "state", HiveConfig(), backend=FakeMemoryBackend())
    await node.open()
    gate = asyncio.Event()

    async def start_when_let() -> None:
        await gate.wait()
        await node.start_services()

    api = OperatorSession(node.hive, Operator.local())
    app = create_app(api, where="embedded", bell=False, start_services=start_when_let)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, FleetScreen)
            assert app.starting and _starting_shown(app)
            assert not {"bridge", "control", "crash_watch"} & set(node.hive.services())
            # keys go on working: help, back, the command line, back
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("colon")
            await pilot.pause()
            assert isinstance(app.screen, CommandLineScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, FleetScreen) and _starting_shown(app)
            # a spawn asked for now waits for the bridge instead of handing the
            # container an empty bridge address
            spawn = asyncio.create_task(api.spawn("walt", runtime="scripted:echo"))
            await asyncio.sleep(0.2)
            assert not spawn.done()
            gate.set()
            await wait_until(lambda: not app.starting, 20, "the services up")
            await pilot.pause()
            assert not _starting_shown(app)
            assert {"bridge", "control", "crash_watch"} <= set(node.hive.services())
            assert node.bridge.url.startswith("http://127.0.0.1:")
            await asyncio.wait_for(spawn, 10)
            bridge_file = node.hive.paths.agent_run("walt") / "bridge.json"
            written = json.loads(bridge_file.read_text())
            assert (written["url"], written["host_url"]) == ("http://127.0.0.1:7801/mcp",
                                                             node.bridge.url)
    finally:
        await node.aclose()


async def test_services_that_fail_to_start_end_the_app_with_the_reason(tmp_path: Path
                                                                       ) -> None:
    node = HiveNode(tmp_path / "state", HiveConfig(), backend=FakeMemoryBackend())
    await node.open()

    async def fail() -> None:
        raise BridgeError("cannot listen on 127.0.0.1:1: permission denied")

    app = create_app(OperatorSession(node.hive, Operator.local()), bell=False,
                     start_services=fail)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await wait_until(lambda: app.return_code is not None, 10, "the app to exit")
        assert app.return_code == 2
        assert isinstance(app.start_error, BridgeError)
    finally:
        await node.aclose()


async def test_a_node_used_as_a_context_starts_everything_before_its_body(tmp_path: Path
                                                                         ) -> None:
    async with HiveNode(tmp_path / "state", HiveConfig(),
                        backend=FakeMemoryBackend()) as node:
        assert node.bridge.url.startswith("http://127.0.0.1:")
        assert node.control.path.exists()
        assert node.crash_watch is not None and node.crash_watch.seeded.is_set()
        assert node.hive.lifecycle is not None
        assert node.hive.lifecycle.bridge_url == node.bridge.url


async def test_the_bridge_is_built_off_the_event_loop(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Its tools' schemas take long enough to stall keys if built on the loop's thread."""
    from hivetui.bridge import server as bridge_server

    threads: list[threading.Thread] = []
    real_build = bridge_server.build_mcp

    def recording_build(*args: Any) -> Any:
        threads.append(threading.current_thread())
        return real_build(*args)

    monkeypatch.setattr(bridge_server, "build_mcp", recording_build)
    async with HiveNode(tmp_path / "state", HiveConfig(), backend=FakeMemoryBackend()):
        assert len(threads) == 1 and threads[0] is not threading.main_thread()
