"""Snapshot tests (pytest-textual-snapshot) of the fleet and agent screens.

Deterministic data from ``tests.tui_fixtures`` (fixed timestamps, frozen clock, UTC).
Update after an intended change with ``pytest tests/functional/test_snapshots.py
--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hivetui.tui.commands import OpenAgent
from hivetui.tui.messages import HiveCommand
from hivetui.tui.screens.agent_detail import AgentDetailScreen
from hivetui.tui.widgets.agent.transcript_pane import TranscriptPane
from tests.tui_fixtures import NOW, fixture_app, settle

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def _before(*keys: str, agent: str | None = None, tab: str = "overview",
            ready: Callable[[Any], bool] | None = None) -> Callable[[Any], Awaitable[None]]:
    """Open ``agent``'s ``tab``, wait until ``ready(app)`` (data a tab loads on its own),
    then press ``keys``."""
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await settle(app)
        if agent is not None:
            app.post_message(HiveCommand(OpenAgent(agent, tab)))
            deadline = time.monotonic() + 5
            while not isinstance(app.screen, AgentDetailScreen) and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await settle(app)
        deadline = time.monotonic() + 5
        while ready is not None and not ready(app) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        if keys:
            await pilot.press(*keys)
            await settle(app)
    return run_before


def test_fleet(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(120, 32),
                        run_before=_before())


def test_fleet_80x24(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(80, 24),
                        run_before=_before())


def test_fleet_filtered(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(120, 32),
                        run_before=_before("slash", "w", "-", "0"))


def test_agent_overview(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(140, 40),
                        run_before=_before(agent="alice"))


def test_agent_messages(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(120, 32),
                        run_before=_before(agent="bob", tab="messages"))


def test_agent_logs_search(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(120, 32),
                        run_before=_before("slash", *"error", "enter", agent="alice",
                                           tab="logs"))


def test_agent_charts_few_samples(snap_compare: SnapCompare, tmp_path: Path) -> None:
    """A fresh agent's first samples: the x-axis still spans the hour and reads "1h" …
    "now" left to right (it read "-0.242 minutes ago"), and the all-zero inbox depth starts
    at 0 (it showed a negative range)."""
    app = fixture_app(tmp_path / "state")

    async def few_samples(pilot: Any) -> None:
        await settle(app)
        hive = app.api.hive  # type: ignore[attr-defined]
        for ago, turns in ((50, 1.0), (20, 2.0)):
            hive.telemetry.record("gus", {"turns_per_min": turns, "inbox_depth": 0,
                                          "turn_duration_p50_s": 12.5, "tool_calls": 3},
                                  NOW - ago)
        await _before(agent="gus")(pilot)

    assert snap_compare(app, terminal_size=(140, 40), run_before=few_samples)


def test_fleet_read_only(snap_compare: SnapCompare, tmp_path: Path) -> None:
    """The header says read-only; the footer offers no stop, restart or model."""
    assert snap_compare(fixture_app(tmp_path / "state", read_only=True),
                        terminal_size=(120, 32), run_before=_before())


def test_help(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(120, 40),
                        run_before=_before("question_mark"))


def test_command_line_error(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(100, 24),
                        run_before=_before("colon", *"frob", "enter"))


def test_agent_transcript(snap_compare: SnapCompare, tmp_path: Path) -> None:
    """alice's live turn, then the turn before it with its Edit expanded (Enter)."""
    assert snap_compare(fixture_app(tmp_path / "state"), terminal_size=(120, 32),
                        run_before=_before("left_square_bracket", *["down"] * 7, "enter",
                                           agent="alice", tab="transcript",
                                           ready=_transcript_loaded))


def _transcript_loaded(app: Any) -> bool:
    """The tab knows its turns and shows one: ``[`` has somewhere to go."""
    pane = app.screen.query_one(TranscriptPane)
    return bool(pane.turns) and pane.shown_turn is not None
