"""The operator's shell and the fleet's actions must not be reachable by accident.

Pilot tests over a real hive (real sqlite); the containers are the in-memory
``FakeBackendRecorder`` of ``test_tui_app`` (a fake: its shell is a local ``/bin/sh``).
"""

from __future__ import annotations

from textual import events

from hivetui.core.hive import Hive
from hivetui.tui.screens.confirm import ConfirmScreen
from hivetui.tui.screens.fleet import FleetScreen
from tests.functional.test_tui_app import backend_of, hive, make_app, rows, until

__all__ = ["hive"]


async def test_two_quick_destroy_presses_open_one_dialog(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("slash", *"carol", "enter")
        for _ in range(2):  # as the driver delivers a quick double press: both queued at once
            app.post_message(events.Key("D", "D"))
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.3)
        assert sum(isinstance(s, ConfirmScreen) for s in app.screen_stack) == 1
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen))
        await pilot.pause(0.3)
        assert isinstance(app.screen, FleetScreen)
        assert ("destroy", "carol") not in backend_of(hive).calls


async def test_keys_typed_as_if_into_a_shell_never_stop_an_agent(hive: Hive) -> None:
    """`x`, `r`, `b`, `D` ask first; the typed rest of a shell line (Tab, Enter) cancels."""
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("slash", *"alice", "enter")
        for word in ("xargs", "rm", "bash", "Do"):
            await pilot.press(*word, "space", "tab", "enter")
            await until(lambda: isinstance(app.screen, FleetScreen))
        await pilot.pause(0.2)
        calls = [call for call in backend_of(hive).calls if call[1] == "alice"]
        assert calls == []
        await pilot.press("x")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("ctrl+s")
        await until(lambda: ("stop", "alice") in backend_of(hive).calls)
