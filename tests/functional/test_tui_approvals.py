"""ApprovalsScreen driven by keys over a real hive (sqlite store, OperatorSession)."""

from __future__ import annotations

import pytest

from hivetui.core.events import ApprovalRequested
from hivetui.core.hive import Hive
from hivetui.tui.screens.approvals import ApprovalsScreen
from hivetui.tui.screens.deny_reason import EMPTY_REASON, DenyReasonScreen
from hivetui.tui.widgets.approvals.live import LiveEvent
from hivetui.tui.widgets.diff_view import DiffView
from tests.tui_queue_fixtures import (
    T0,
    ScreenHost,
    approvals_landed,
    ensure_approvals_readable,
    fixed_clock,
    insert_approval,
    operator_session,
    read_approvals_table,
    seed_approvals,
    settle,
    toasts,
)


async def _host(hive: Hive, *, read_only: bool = False, subscribe: bool = False) -> ScreenHost:
    await ensure_approvals_readable(hive)
    return ScreenHost(lambda api: ApprovalsScreen(api, clock=fixed_clock, subscribe=subscribe),
                      api=operator_session(hive, read_only))


def _screen(host: ScreenHost) -> ApprovalsScreen:
    screen = host.screen
    assert isinstance(screen, ApprovalsScreen)
    return screen


async def test_queue_lists_pending_requests_and_shows_the_selected_diff(hive: Hive) -> None:
    ids = await seed_approvals(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert [a.id for a in screen.queue.approvals] == ids
        assert screen.selected is not None and screen.selected.agent == "alice"
        view = screen.detail.diff_view
        assert any(line.kind == "add" and "claude-opus-4-1" in line.text for line in view.lines)
        await pilot.press("j")  # the spawn from a draft: its whole config
        assert screen.selected is not None and screen.selected.kind == "spawn_commit"
        assert any("pkgs.ripgrep" in line.text for line in view.lines)
        await pilot.press("j")  # one-shot spawn: no diff, says so
        assert screen.selected is not None and screen.selected.agent == "dave"
        assert "default config" in view.lines[0].text
        await pilot.press("k", "k")
        assert screen.selected is not None and screen.selected.agent == "alice"


async def test_split_toggle_and_enter_open_the_diff(hive: Hive) -> None:
    await seed_approvals(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _screen(app)
        view = screen.query_one("#approval-diff", DiffView)
        assert not view.split
        await pilot.press("s")
        assert view.split
        await pilot.press("enter")
        assert screen.maximized is screen.detail
        assert screen.focused is view
        await pilot.press("j")  # in the open diff, j scrolls instead of moving the queue
        assert screen.selected is not None and screen.selected.agent == "alice"
        await pilot.press("escape")
        assert screen.maximized is None
        assert screen.focused is screen.queue
        await pilot.press("s")
        assert not view.split


async def test_deny_asks_for_a_reason_and_refuses_an_empty_one(hive: Hive) -> None:
    await seed_approvals(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, DenyReasonScreen)
        await pilot.press("enter")  # empty reason
        await pilot.pause()
        assert app.screen is modal, "an empty reason must not close the dialog"
        assert EMPTY_REASON in str(modal.query_one("#error").render())
        await pilot.press(*"   ", "enter")  # blanks only: still empty
        assert app.screen is modal
        await pilot.press("escape")  # cancel: nothing denied
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
        assert all(a.state == "pending" for a in await read_approvals_table(hive, True))


async def test_deny_by_keys_with_a_reason(hive: Hive) -> None:
    if not await approvals_landed(hive):
        pytest.skip("deny needs the approvals service (issue 5); its stub refuses")
    ids = await seed_approvals(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press(*"needs tests first", "enter")
        await settle(pilot)
        denied = {a.id: a for a in await read_approvals_table(hive, True)}[ids[0]]
        assert denied.state == "denied"
        assert denied.reason == "needs tests first"
        assert denied.resolved_by == "local:tester"
        screen = _screen(app)
        assert [a.id for a in screen.queue.approvals] == ids[1:]
        assert any(t.title == f"#{ids[0]} denied" for t in toasts(app))


async def test_an_api_refusal_is_a_toast_not_a_crash(hive: Hive) -> None:
    ids = await seed_approvals(hive)
    landed = await approvals_landed(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        if landed:  # another operator resolves it while this screen still shows it
            await hive.approvals.deny(ids[0], "local:other", "not now")
        await pilot.press("a")
        await settle(pilot)
        errors = [t for t in toasts(app) if t.severity == "error"]
        assert len(errors) == 1, errors
        if landed:
            assert "already" in errors[0].message
        else:
            assert errors[0].title == "Not available yet"
        assert isinstance(app.screen, ApprovalsScreen)
        await pilot.press("j")  # still alive and driven by keys
        assert _screen(app).selected is not None


async def test_approve_by_keys(hive: Hive) -> None:
    if not await approvals_landed(hive):
        pytest.skip("approve needs the approvals service (issue 5); its stub refuses")
    request = await hive.approvals.request_spawn("local:tester", "dave", "scripted:echo")
    app = await _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert screen.selected is not None and screen.selected.id == request.id
        await pilot.press("a")
        await settle(pilot)
        resolved = {a.id: a for a in await hive.approvals.query(True)}[request.id]
        errors = [t for t in toasts(app) if t.severity == "error"]
        if hive.lifecycle is None:  # no container backend here: approve refuses clearly
            assert errors and resolved.state in ("pending", "failed")
        else:
            assert not errors
            assert resolved.state == "approved"
            assert screen.queue.approvals == []


async def test_read_only_operator_cannot_approve_or_deny_and_is_told_why(hive: Hive) -> None:
    ids = await seed_approvals(hive)
    app = await _host(hive, read_only=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert "read-only" in str(screen.query_one("#approvals-title").render())
        footer = screen.active_bindings
        assert not footer["a"].enabled and not footer["d"].enabled  # shown dimmed
        assert footer["enter"].enabled  # looking is allowed
        await pilot.press("a")
        await settle(pilot)
        (refusal,) = toasts(app)
        assert refusal.title == "Read-only session" and refusal.severity == "warning"
        assert refusal.message.startswith("local:tester may not approve a request: ")
        assert "hivetui-read-only" in refusal.message
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)  # no deny dialog
        assert [t.message.split(":")[1] for t in toasts(app)] == [
            "tester may not approve a request", "tester may not deny a request"]
        assert [a.id for a in await read_approvals_table(hive)] == ids  # nothing resolved
        await pilot.press("j", "s")  # the allowed keys still work, without a toast
        await settle(pilot)
        assert len(toasts(app)) == 2
        assert screen.detail.diff_view.split


async def test_live_events_refresh_the_queue(hive: Hive) -> None:
    await seed_approvals(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert len(screen.queue.approvals) == 3
        new = await insert_approval(hive, kind="apply_commit", agent="bob", commit="b0b",
                                    diff="", created_at=T0)
        await pilot.pause()
        assert len(screen.queue.approvals) == 3  # nothing polls the database
        screen.post_message(LiveEvent(ApprovalRequested(id=new, kind="apply_commit",
                                                        agent="bob")))
        await settle(pilot)
        assert new in [a.id for a in screen.queue.approvals]


async def test_subscribed_screen_follows_the_event_stream(hive: Hive) -> None:
    await seed_approvals(hive)
    app = await _host(hive, subscribe=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _screen(app)
        new = await insert_approval(hive, kind="apply_commit", agent="bob", commit="b0b")
        hive.hub.publish(ApprovalRequested(id=new, kind="apply_commit", agent="bob"))
        for _ in range(50):
            await pilot.pause(0.02)
            if new in [a.id for a in screen.queue.approvals]:
                break
        assert new in [a.id for a in screen.queue.approvals]


def test_every_key_of_these_screens_has_a_description() -> None:
    from textual.binding import Binding

    from hivetui.tui.screens.confirm import ConfirmScreen
    from hivetui.tui.screens.kept import KeptScreen
    from hivetui.tui.screens.questions import QuestionsScreen

    for cls in (ApprovalsScreen, QuestionsScreen, KeptScreen, DenyReasonScreen, ConfirmScreen,
                DiffView):
        bindings = [b for b in cls.BINDINGS if isinstance(b, Binding)]
        assert len(bindings) == len(cls.BINDINGS), cls
        assert all(b.description for b in bindings), cls
    keys = {b.key for b in ApprovalsScreen.BINDINGS if isinstance(b, Binding)}
    assert {"a", "d", "j", "k", "enter", "s", "escape"} <= keys
