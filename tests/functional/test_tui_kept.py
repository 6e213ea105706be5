"""KeptScreen: revive, purge with a typed confirmation, drafts; over a real hive."""

from __future__ import annotations

from hivetui.core.hive import Hive
from hivetui.tui.screens.confirm import ConfirmScreen
from hivetui.tui.screens.kept import KeptScreen
from tests.tui_queue_fixtures import (
    ScreenHost,
    approvals_landed,
    ensure_kept_readable,
    fixed_clock,
    kept_on_disk,
    operator_session,
    seed_kept,
    settle,
    toasts,
)


async def _host(hive: Hive, *, read_only: bool = False) -> ScreenHost:
    await ensure_kept_readable(hive)
    return ScreenHost(lambda api: KeptScreen(api, clock=fixed_clock),
                      api=operator_session(hive, read_only))


def _screen(host: ScreenHost) -> KeptScreen:
    screen = host.screen
    assert isinstance(screen, KeptScreen)
    return screen


async def test_purge_asks_for_the_name_and_passes_it_as_confirm(hive: Hive) -> None:
    seed_kept(hive)
    landed = await approvals_landed(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert screen.kept_list.selected == "erin"
        await pilot.press("j")
        assert screen.kept_list.selected == "frank"
        await pilot.press("p")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmScreen)
        await pilot.press(*"erin", "enter")  # the wrong name
        await pilot.pause()
        assert app.screen is modal
        assert "Type frank exactly" in str(modal.query_one("#error").render())
        modal.query_one("#typed").value = ""  # type: ignore[attr-defined]
        await pilot.press(*"frank", "enter")
        await settle(pilot)
        assert isinstance(app.screen, KeptScreen)
        if landed:
            assert "frank" not in kept_on_disk(hive)
            assert any(t.title == "Purged frank" for t in toasts(app))
            assert screen.kept_list.selected == "erin"
        else:
            # the session checked confirm == name and got as far as the stub service
            errors = [t for t in toasts(app) if t.severity == "error"]
            assert [e.title for e in errors] == ["Not available yet"]
            assert "frank" in kept_on_disk(hive)


async def test_purge_cancelled_keeps_everything(hive: Hive) -> None:
    seed_kept(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, KeptScreen)
        assert kept_on_disk(hive) == ["erin", "frank"]
        assert toasts(app) == []


async def test_revive_by_key(hive: Hive) -> None:
    seed_kept(hive)
    landed = await approvals_landed(hive)
    app = await _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        errors = [t for t in toasts(app) if t.severity == "error"]
        if not landed:
            assert [e.title for e in errors] == ["Not available yet"]
        elif hive.lifecycle is None:  # no container backend in this hive: a clear refusal
            assert len(errors) == 1
        else:
            assert not errors
            assert hive.registry.find("erin") is not None
            assert "erin" not in kept_on_disk(hive)


async def test_nothing_kept_disables_revive_and_purge(hive: Hive) -> None:
    app = await _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert screen.kept_list.selected is None
        assert screen.check_action("revive", ()) is None
        await pilot.press("p", "r")
        await settle(pilot)
        assert isinstance(app.screen, KeptScreen)
        assert toasts(app) == []


async def test_read_only_operator_is_told_why_it_cannot_revive_or_purge(hive: Hive) -> None:
    seed_kept(hive)
    app = await _host(hive, read_only=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert screen.kept_list.selected == "erin"
        assert screen.check_action("revive", ()) is None  # shown dimmed
        await pilot.press("r", "p")
        await settle(pilot)
        assert isinstance(app.screen, KeptScreen)  # no purge dialog
        assert [(t.title, t.message.split(":")[1]) for t in toasts(app)] == [
            ("Read-only session", "tester may not revive a kept agent"),
            ("Read-only session", "tester may not purge a kept agent")]
        assert kept_on_disk(hive) == ["erin", "frank"]
