"""The operator's shell and the fleet's actions must not be reachable by accident.

Pilot tests over a real hive (real sqlite); the containers are the in-memory
``FakeBackendRecorder`` of ``test_tui_app`` (a fake: its shell is a local ``/bin/sh``).
"""

from __future__ import annotations

import os

from textual import events
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Static

from hivetui.core.hive import Hive
from hivetui.terminal.pty import AppInput
from hivetui.tui.app import HiveApp
from hivetui.tui.screens.agent_detail import AgentDetailScreen
from hivetui.tui.screens.confirm import ConfirmScreen
from hivetui.tui.screens.fleet import FleetScreen
from hivetui.tui.widgets.agent.terminal_pane import TerminalPane
from hivetui.tui.widgets.terminal import RELEASE_KEY, Terminal
from tests.functional.test_tui_app import backend_of, hive, make_app, rows, until
from tests.terminal_testing import wait_for_text

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


async def open_shell(pilot: Pilot[None], app: HiveApp, name: str) -> Terminal:
    """The fleet's `t` on ``name``: its agent screen, terminal tab, shell running."""
    await pilot.press("slash", *name, "enter", "t")
    await until(lambda: isinstance(app.screen, AgentDetailScreen))
    pane = app.screen.query_one(TerminalPane)
    await until(lambda: pane.terminal is not None and pane.terminal.running)
    assert pane.terminal is not None
    await until(lambda: app.focused is pane.terminal)
    return pane.terminal


def footer_keys(app: HiveApp) -> dict[str, str]:
    return {key: active.binding.description for key, active in
            app.screen.active_bindings.items() if active.binding.show}


async def test_leaving_the_terminal_and_the_agent_keeps_the_shell(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        terminal = await open_shell(pilot, app, "alice")
        screen = app.screen
        terminal.write(b"sleep 600 & echo KEPT-$((6*7))\r")
        await wait_for_text(terminal, "KEPT-42")
        await pilot.press(RELEASE_KEY)
        pane = screen.query_one(TerminalPane)
        assert app.focused is pane
        await pilot.press("escape")  # what killed the shell before: back to the fleet
        await until(lambda: isinstance(app.screen, FleetScreen))
        await pilot.pause(0.3)
        assert terminal.running and terminal.process is not None
        os.kill(terminal.process.pid, 0)
        await pilot.press("t")  # the same screen, the same shell, its screen intact
        await until(lambda: app.screen is screen and app.focused is terminal)
        assert "KEPT-42" in terminal.screen_text()
        terminal.write(b"jobs\r")
        await wait_for_text(terminal, "sleep 600")
        await pilot.press(RELEASE_KEY, "escape")
        await until(lambda: isinstance(app.screen, FleetScreen))
        assert terminal.running
    assert not terminal.running  # quitting the app ends kept shells too


async def test_enter_returns_to_the_shell_and_the_footer_says_how(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        assert footer_keys(app)["t"] == "Shell"
        terminal = await open_shell(pilot, app, "alice")
        # in the terminal every other key is the shell's: the footer shows only the way out
        assert footer_keys(app) == {RELEASE_KEY: "Leave the terminal"}
        await pilot.press(RELEASE_KEY)
        assert footer_keys(app)["enter"] == "Back to the shell"
        hint = str(app.screen.query_one("#terminal-hint", Static).render())
        assert "enter returns to the shell" in hint
        await pilot.press(*"make", "colon", *"wq", "x")  # still typing as if in the shell
        await pilot.pause(0.2)
        assert isinstance(app.screen, AgentDetailScreen)  # no prompt, no command line
        assert app.focused is not terminal
        await pilot.press("enter")
        assert app.focused is terminal
        await pilot.press(RELEASE_KEY, "1")
        assert footer_keys(app)["4"] == "Shell"  # from any tab: the way back in


async def test_closing_the_shell_is_explicit_and_confirmed(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        terminal = await open_shell(pilot, app, "alice")
        await pilot.press(RELEASE_KEY, "ctrl+d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")  # the dialog's Enter cancels
        await until(lambda: isinstance(app.screen, AgentDetailScreen))
        assert terminal.running
        await pilot.press("ctrl+d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("ctrl+s")
        await until(lambda: not terminal.running)
        await until(lambda: "enter" in footer_keys(app))
        assert footer_keys(app)["enter"] == "Open a shell"


async def test_ctrl_p_and_ctrl_q_in_the_terminal_are_the_programs(hive: Hive) -> None:
    """Textual's priority keys would open the palette (whose Enter runs a fleet action)
    or quit the app and every shell: in the terminal they are the program's."""
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        terminal = await open_shell(pilot, app, "alice")
        terminal.write(b"stty -ixon; cat -v\r")
        await pilot.pause(0.3)
        await pilot.press("ctrl+p", "ctrl+q", "enter")
        await wait_for_text(terminal, "^P^Q")
        assert isinstance(app.screen, AgentDetailScreen) and app.is_running
        await pilot.press(RELEASE_KEY, "ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette))


async def test_keys_for_the_app_make_terminals_wait_keys_for_the_shell_do_not(
        hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        terminal = await open_shell(pilot, app, "alice")
        AppInput.at = float("-inf")
        await pilot.press("l", "s")  # typed into the shell: its output must not wait
        assert AppInput.at == float("-inf")
        await pilot.press(RELEASE_KEY)  # the terminal's own key is the app's
        assert AppInput.at > float("-inf")
        AppInput.at = float("-inf")
        await pilot.press("1")
        assert AppInput.at > float("-inf")
        assert terminal.running
