"""A read-only operator in the app: the header says read-only, the footer does not offer
the mutating keys and, pressed anyway, they say what was refused and why (one toast), on
the fleet, an agent's screen, the queues, the `:` line and `?`. Over a real hive (real
sqlite); the containers are the recording fake."""

from __future__ import annotations

from textual.widgets import Label

from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession
from hivetui.tui.app import HiveApp, create_app
from hivetui.tui.screens.agent_detail import AgentDetailScreen
from hivetui.tui.screens.approvals import ApprovalsScreen
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
        assert not {"x", "r", "m", "D", "u", "b"} & set(shown)  # not offered in the footer
        assert shown["l"].enabled and shown["a"].enabled  # looking and navigating work
        assert footer_keys(app) == ["/", "s", "l", "t", "a", "w", "?", ":", "^p"]
        assert str(screen.query_one("#read-only", Label).content) == "read-only"
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
        assert "c" not in screen.active_bindings  # compose, a widget's key: not offered
        assert "x" not in screen.active_bindings and screen.query_one("#read-only")
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


async def test_approvals_key_a_is_refused_not_navigation(hive: Hive) -> None:
    """On the approvals screen `a` approves: dimmed in a read-only footer (not replaced by
    the app's `a`, which opens the approvals elsewhere), pressed it is refused."""
    app, toasts = read_only_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, ApprovalsScreen))
        shown = app.screen.active_bindings
        assert shown["a"].binding.action == "approve" and not shown["a"].enabled
        await pilot.press("a")
        await until(lambda: len(toasts) == 1)
        assert refused(toasts) == ["ssh:viewer may not approve a request"]


async def test_a_full_session_header_says_nothing_of_read_only(hive: Hive) -> None:
    app = create_app(OperatorSession(hive, Operator("local:op")), bell=False)
    async with app.run_test(size=(120, 30)):
        await until(lambda: len(rows(app)) == 4)
        assert not app.screen.query("#read-only")
        assert {"x", "r", "m"} <= set(footer_keys(app))


def footer_keys(app: HiveApp) -> list[str]:
    """The keys the footer offers, in order."""
    return [key.key_display or key.key for key in app.screen.query("FooterKey")]  # type: ignore[attr-defined]


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
