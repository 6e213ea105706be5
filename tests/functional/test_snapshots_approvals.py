"""Snapshots of the approvals, questions and kept screens (and their modals).

Deterministic: a real hive seeded with fixed timestamps and a fixed clock
(tests/tui_queue_fixtures.py). Update with ``pytest --snapshot-update`` after a
deliberate change, and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from hivetui.core.hive import Hive
from hivetui.tui.screens.approvals import ApprovalsScreen
from hivetui.tui.screens.kept import KeptScreen
from hivetui.tui.screens.questions import QuestionsScreen
from tests.tui_queue_fixtures import (
    ScreenHost,
    fixed_clock,
    seed_approvals,
    seed_kept,
    seed_questions,
    settle,
)

SnapCompare = Callable[..., bool]


def _approvals(tmp_path: Path) -> ScreenHost:
    return ScreenHost(lambda api: ApprovalsScreen(api, clock=fixed_clock),
                      state_dir=tmp_path / "state", seed=seed_approvals)


def _questions(tmp_path: Path) -> ScreenHost:
    return ScreenHost(lambda api: QuestionsScreen(api, clock=fixed_clock),
                      state_dir=tmp_path / "state", seed=seed_questions)


async def _seed_kept(hive: Hive) -> None:
    seed_kept(hive)


def _kept(tmp_path: Path) -> ScreenHost:
    return ScreenHost(lambda api: KeptScreen(api, clock=fixed_clock),
                      state_dir=tmp_path / "state", seed=_seed_kept)


async def _loaded(pilot: Pilot[None]) -> None:
    await settle(pilot)


def test_approvals_unified(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_approvals(tmp_path), terminal_size=(80, 24), run_before=_loaded)


def test_approvals_side_by_side(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_approvals(tmp_path), press=["s"], terminal_size=(80, 24),
                        run_before=_loaded)


def test_approvals_spawn_draft_opened(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_approvals(tmp_path), press=["j", "enter"], terminal_size=(80, 24),
                        run_before=_loaded)


def test_approvals_wide(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_approvals(tmp_path), press=["s"], terminal_size=(200, 60),
                        run_before=_loaded)


def test_approvals_deny_empty_reason(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_approvals(tmp_path), press=["d", "enter"], terminal_size=(80, 24),
                        run_before=_loaded)


def test_questions_with_options(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_questions(tmp_path), press=["a"], terminal_size=(80, 24),
                        run_before=_loaded)


def test_questions_free_text(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_questions(tmp_path), press=["j"], terminal_size=(80, 24),
                        run_before=_loaded)


def test_kept(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_kept(tmp_path), terminal_size=(80, 24), run_before=_loaded)


def test_kept_purge_confirm(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(_kept(tmp_path), press=["p", *"eri"], terminal_size=(80, 24),
                        run_before=_loaded)
