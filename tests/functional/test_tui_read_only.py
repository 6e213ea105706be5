"""A read-only operator in the app: mutating keys are shown disabled and, pressed anyway,
say what was refused and why (one toast), on the fleet, an agent's screen, the `:` line
and `?`. Over a real hive (real sqlite); the containers are the recording fake."""

from __future__ import annotations

from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession
from hivetui.tui.app import HiveApp, create_app
from hivetui.tui.screens.agent_detail import AgentDetailScreen
from hivetui.tui.screens.confirm import ConfirmScreen
from hivetui.tui.screens.fleet import FleetScreen
from hivetui.tui.screens.help import HelpScreen
from hivetui.tui.screens.read_only import HELP_MARK, READ_ONLY_TITLE
from tests.functional.test_tui_app import (
    backend_of,
    hive,
    open_agent,
    record_toasts,
    rows,
    until,
)

__all__ = ["hive"]  # the fixture: four running agents over the recording fake backend

Toasts = list[tuple[str, str, str]]


def read_only_app(hive: Hive) -> tuple[HiveApp, Toasts]:
    app = create_app(OperatorSession(hive, Operator("ssh:viewer", read_only=True)), bell=False)
    return app, record_toasts(app)


def refused(toasts: Toasts) -> list[str]:
    """What each read-only toast says was refused."""
    out = []
    for title, message, severity in toasts:
        assert title == READ_ONLY_TITLE and severity == "warning", (title, message)
        assert "refused" in message and "hivetui-read-only" in message  # what, and why
        out.append(message.split(": ", 1)[0])
    return out


async def test_fleet_keys_say_why_they_are_refused(hive: Hive) -> None:
    app, toasts = read_only_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        shown = screen.active_bindings
        assert not shown["x"].enabled and not shown["r"].enabled and not shown["m"].enabled
        assert shown["l"].enabled and shown["a"].enabled  # looking and navigating work
        await pilot.press("slash", *"alice", "enter", "x", "D", "m")
        await until(lambda: len(toasts) == 3)
        assert isinstance(app.screen, FleetScreen)  # no destroy dialog, no model prompt
        assert refused(toasts) == ["ssh:viewer may not stop an agent",
                                   "ssh:viewer may not destroy an agent",
                                   "ssh:viewer may not set an agent's model"]
        calls = backend_of(hive).calls
        assert not [c for c in calls if c[0] in ("stop", "destroy")]
        assert hive.registry.get("alice").state == "running"


async def test_command_line_refusal_is_one_toast_and_no_dialog(hive: Hive) -> None:
    app, toasts = read_only_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("colon", *"stop bob", "enter")
        await until(lambda: len(toasts) == 1)
        await pilot.press("colon", *"destroy bob", "enter")
        await until(lambda: len(toasts) == 2)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.pause(0.2)
        assert refused(toasts) == ["ssh:viewer may not stop bob",
                                   "ssh:viewer may not destroy bob"]  # no "stop bob…" first
        assert not [c for c in backend_of(hive).calls if c[1] == "bob"]


async def test_agent_screen_keys_say_why_they_are_refused(hive: Hive) -> None:
    app, toasts = read_only_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = await open_agent(pilot, app, "carol")
        assert isinstance(screen, AgentDetailScreen)
        await pilot.press("r")
        await until(lambda: len(toasts) == 1)
        assert refused(toasts) == ["ssh:viewer may not restart an agent"]
        await pilot.press("2")  # tabs still switch
        await until(lambda: screen.query_one("#agent-tabs").active == "messages")  # type: ignore[attr-defined]
        assert len(toasts) == 1
        assert not screen.active_bindings["c"].enabled  # compose, a widget's key: dimmed
        await pilot.press("c")
        await until(lambda: len(toasts) == 2)
        assert refused(toasts)[1] == "ssh:viewer may not send messages"
        assert not screen.query_one("#compose").has_focus
        screen.query_one("#compose").focus()  # as a mouse click would
        await pilot.press(*"hi", "enter")
        await until(lambda: len(toasts) == 3)
        assert refused(toasts)[2] == "ssh:viewer may not send to carol"
        assert hive.bus.depth("carol") == 0
        assert ("restart", "carol") not in backend_of(hive).calls


async def test_help_marks_the_refused_keys(hive: Hive) -> None:
    app, _ = read_only_app(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        sections = {title: dict((d, k) for k, d in HelpScreen.rows(bindings))
                    for title, bindings in app.screen.sections}
        assert f"Approve{HELP_MARK}" in sections["approvals"]
        assert f"Stop{HELP_MARK}" in sections["fleet"]
        assert f"Answer{HELP_MARK}" in sections["questions"]
        assert f"Purge{HELP_MARK}" in sections["kept agents and drafts"]
        assert "Open" in sections["approvals"] and "Logs" in sections["fleet"]
