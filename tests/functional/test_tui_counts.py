"""Counted nouns read right in the TUI: a hive of one agent says "1 agent", not "1 agents".
Over a real hive (real sqlite); the containers are the recording fake."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Label

from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession
from hivetui.core.words import counted
from hivetui.tui.app import create_app
from tests.functional.test_tui_app import FakeBackendRecorder, rows, until


async def test_one_agent_is_singular(tmp_path: Path) -> None:
    backend = FakeBackendRecorder()
    async with Hive(tmp_path / "state", backend=backend) as hive:
        await hive.registry.create("solo", role="worker", runtime="scripted:echo",
                                   model="claude-sonnet-4-5")
        await hive.registry.update("solo", state="running", status="idle")
        backend.live.add("solo")
        app = create_app(OperatorSession(hive, Operator("local:op")), bell=False)
        async with app.run_test(size=(120, 30)) as pilot:
            await until(lambda: rows(app) == ["solo"])
            screen = app.screen
            summary = str(screen.query_one("#fleet-summary", Label).content)
            status = str(screen.query_one("#fleet-status", Label).content)
            assert summary.endswith("1 agent, 1 running")
            assert status.startswith("1 agent · sorted")
            await pilot.press("slash", "s")
            await until(lambda: "1 of 1 agent matching" in
                        str(screen.query_one("#fleet-status", Label).content))


def test_counted() -> None:
    assert [counted(n, "agent") for n in (0, 1, 2)] == ["0 agents", "1 agent", "2 agents"]
    assert counted(1, "match", "matches") == "1 match"
    assert counted(3, "match", "matches") == "3 matches"
