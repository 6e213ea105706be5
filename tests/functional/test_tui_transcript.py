"""The Transcript tab and `:grep` driven by Pilot over a real hive (the snapshot fixtures:
alice has one ended turn and one running a Bash command)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from hivetui.core.hive import Hive
from hivetui.core.operator import OperatorSession
from hivetui.core.transcript_format import call_event, result_event
from hivetui.tui.app import HiveApp
from hivetui.tui.commands import OpenAgent
from hivetui.tui.messages import HiveCommand
from hivetui.tui.screens.agent_detail import AgentDetailScreen
from hivetui.tui.screens.grep import GrepScreen
from hivetui.tui.widgets.agent.transcript_pane import TranscriptPane
from hivetui.tui.widgets.fleet.table import FleetTable
from tests.tui_fixtures import NOW, fixture_app, settle


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def hive_of(app: HiveApp) -> Hive:
    api = app.api
    assert isinstance(api, OperatorSession)
    return api.hive


def lines(pane: TranscriptPane) -> list[str]:
    view = pane.view
    return [str(view.get_option_at_index(i).prompt) for i in range(view.option_count)]


async def transcript_pane(app: HiveApp) -> TranscriptPane:
    await until(lambda: isinstance(app.screen, AgentDetailScreen)
                and bool(app.screen.query(TranscriptPane)))
    return app.screen.query_one(TranscriptPane)


async def open_transcript(app: HiveApp) -> TranscriptPane:
    await settle(app)
    app.post_message(HiveCommand(OpenAgent("alice", "transcript")))
    pane = await transcript_pane(app)
    await until(lambda: pane.following and pane.shown_turn == 2 and len(pane.events) == 5)
    return pane


async def test_the_tab_follows_the_live_turn_browses_expands_and_searches(
        tmp_path: Path) -> None:
    app = fixture_app(tmp_path / "state")
    async with app.run_test(size=(120, 32)) as pilot:
        pane = await open_transcript(app)
        hive = hive_of(app)
        assert lines(pane)[-1] == "⚙ Bash: pytest -q tests/unit"
        # the running command finishes, the turn ends: both show up without a key
        await hive.transcripts.ingest("alice", "fixture:1", [
            result_event("c6", "12 passed in 0.8s", False, 0.0),
            {"kind": "end", "outcome": "ok", "duration_s": 9.5, "cost_usd": 0.02,
             "tokens_in": 900, "tokens_out": 80}])
        await until(lambda: len(pane.events) == 7)
        assert lines(pane)[-2] == "    ↳ result: 12 passed in 0.8s"
        assert pane.view.highlighted == 6  # following: the newest line is in view
        # a new turn starts: the tab moves on to it while following
        await hive.transcripts.ingest("alice", "fixture:2", [
            {"kind": "prompt", "text": "[message 9 from boss (manager) at x]\nnext"}])
        await until(lambda: pane.shown_turn == 3)
        assert lines(pane) == ["▶ prompt: boss: next"]
        # [ goes back (following stops); ] forward again
        await pilot.press("left_square_bracket", "left_square_bracket")
        await until(lambda: pane.shown_turn == 1 and len(pane.events) == 11)
        assert not pane.following
        assert "$0.1342" in str(app.screen.query_one("#transcript-status").render())
        # Enter on the Edit line shows the edit's lines
        edit = lines(pane).index("⚙ Edit bus.py +3 −1")
        pane.view.highlighted = edit
        await pilot.press("enter")
        await until(lambda: edit in pane.expanded)
        assert "+         if waiter is None:" in lines(pane)[edit]
        await pilot.press("enter")
        await until(lambda: edit not in pane.expanded)
        assert lines(pane)[edit] == "⚙ Edit bus.py +3 −1"
        # / searches the turn shown
        await pilot.press("slash", *"recv", "enter")
        await until(lambda: pane.search_text == "recv")
        assert [pane.events[i]["kind"] for i in pane.matches] == ["text", "tool_call"]
        assert pane.view.highlighted == pane.matches[0]
        await pilot.press("n")
        assert pane.view.highlighted == pane.matches[1]
        await pilot.press("right_square_bracket")
        await until(lambda: pane.shown_turn == 2)
        await pilot.press("f")
        await until(lambda: pane.following and pane.shown_turn == 3)


async def test_grep_finds_across_agents_and_opens_the_turn(tmp_path: Path) -> None:
    app = fixture_app(tmp_path / "state")
    async with app.run_test(size=(120, 32)) as pilot:
        await settle(app)
        hive = hive_of(app)
        await hive.transcripts.ingest("bob", "b:1", [
            call_event("b1", "Bash", {"command": "grep -rn recv hivetui"}, 0.0)])
        await pilot.press("colon", *"grep recv()", "enter")
        await until(lambda: isinstance(app.screen, GrepScreen) and bool(app.screen.hits))
        screen = app.screen
        assert isinstance(screen, GrepScreen)
        assert {(h["agent"], h["turn"]) for h in screen.hits} == {("alice", 1), ("alice", 2)}
        await pilot.press("escape", "colon", *"grep recv", "enter")
        await until(lambda: isinstance(app.screen, GrepScreen) and app.screen.text == "recv"
                    and len(app.screen.hits) == 4)
        screen = app.screen
        assert isinstance(screen, GrepScreen)
        assert {h["agent"] for h in screen.hits} == {"alice", "bob"}
        first_alice = next(i for i, h in enumerate(screen.hits)
                           if h["agent"] == "alice" and h["turn"] == 1)
        screen.query_one("#grep-hits").highlighted = first_alice  # type: ignore[attr-defined]
        await pilot.press("enter")
        pane = await transcript_pane(app)
        await until(lambda: pane.shown_turn == 1 and len(pane.events) == 11)
        assert not pane.following


async def test_the_fleet_shows_the_current_action_and_for_how_long(tmp_path: Path) -> None:
    app = fixture_app(tmp_path / "state")
    async with app.run_test(size=(120, 32)):
        await settle(app)
        table = app.screen.query_one(FleetTable)
        assert table.get_cell("alice", "detail") == "12s · Bash: pytest -q tests/unit"
        hive = hive_of(app)
        hive.transcripts.clock = lambda: NOW - 3
        await hive.transcripts.ingest("alice", "fixture:1", [
            result_event("c6", "ok", False, 0.0)])
        await until(lambda: table.get_cell("alice", "detail") == "3s · thinking…")
        await hive.transcripts.ingest("alice", "fixture:1", [
            {"kind": "end", "outcome": "ok"}])
        await until(lambda: table.get_cell("alice", "detail") == "running pytest -q tests/unit")
