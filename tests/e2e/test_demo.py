"""`hivetui demo`: headless it plays the scenario and exits 0; in the TUI an operator can
take part by keys (answer the question, approve the spawn) while the crash and the
recovery happen on screen, each of them one toast."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hivetui.core.config import HiveConfig
from hivetui.core.operator import Operator, OperatorSession
from hivetui.demo import CRASHER, NEWCOMER, DemoScenario
from hivetui.node import HiveNode
from hivetui.tui.app import create_app

pytestmark = pytest.mark.slow


def test_headless_demo_exits_0_showing_crash_and_recovery(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "hivetui", "demo", "--headless"],
                         capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
                         env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    crash = next(i for i, line in enumerate(lines) if " container_crash " in line)
    assert f'"agent": "{CRASHER}"' in lines[crash]
    assert any(" agent_started " in line and f'"agent": "{CRASHER}"' in line
               for line in lines[crash:])
    assert " question_asked " in out.stdout and " operator_answer " in out.stdout
    assert " approval_requested " in out.stdout and '"result": "approved"' in out.stdout
    assert "demo: crash seen: True, recovered: True" in out.stdout


async def _until(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_demo_in_the_tui_driven_by_keys(tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.crash_watch.interval_s = 2.0
    async with HiveNode(tmp_path / "state", cfg) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        scenario = DemoScenario(api, auto=False, pace_s=0.3)
        node.hive.add_service("demo-watch", scenario.watch)
        node.hive.add_service("demo-scenario", scenario.run)
        app = create_app(api, where="demo", bell=False)
        toasts: list[tuple[str, str]] = []
        notify = app.notify

        def recording_notify(message: str, *, title: str = "", **kw: Any) -> None:
            toasts.append((title, message))
            notify(message, title=title, **kw)

        app.notify = recording_notify  # type: ignore[method-assign]
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                async def approval_waits() -> bool:
                    return bool(await api.approvals())

                # the manager's spawn request waits for the operator: approve it by keys
                await _until(approval_waits)
                await pilot.press("colon", *"approvals", "enter")
                await pilot.pause(0.5)
                await pilot.press("a")

                async def spawned() -> bool:
                    agent = node.hive.registry.find(NEWCOMER)
                    return agent is not None and agent.state == "running"

                await _until(spawned)
                (done,) = await api.approvals(include_resolved=True)
                assert done.state == "approved" and done.resolved_by == "tester"
                await pilot.press("escape")

                async def question_waits() -> bool:
                    return bool(await api.questions())

                await _until(question_waits)
                await pilot.press("colon", *"questions", "enter")
                await pilot.pause(0.3)
                await pilot.press("enter")  # open the answer box of the first question
                await pilot.pause(0.2)
                await pilot.press(*"yes, tests first", "enter")

                async def answered() -> bool:
                    return not await api.questions() and bool(
                        await api.questions(include_answered=True))

                await _until(answered)
                (q,) = await api.questions(include_answered=True)
                assert q.answer == "yes, tests first" and q.answered_by == "tester"
                await pilot.press("escape")
                await asyncio.wait_for(scenario.recovered.wait(), 60)
                await pilot.pause(0.5)
                w2 = await api.agent(CRASHER)
                assert w2.state == "running"
                assert scenario.crashed.is_set()
                # one toast per happening: the app's alert, not also the core's
                # notification of it nor a narration repeating it
                crash = [t for t in toasts if t[0] in (f"{CRASHER} crashed", "container crashed")
                         or f"{CRASHER} crashed" in t[1] or f"{CRASHER} exited" in t[1]]
                assert [title for title, _ in crash] == [f"{CRASHER} crashed"], toasts
                assert len([t for t in toasts if t[0] == "Approval requested"]) == 1, toasts
                assert len([t for t in toasts if "Should w3 start" in t[1]]) == 1, toasts
        finally:
            await node.stop_all()
