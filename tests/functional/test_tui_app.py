"""Pilot tests of the operator app over a real hive (real sqlite), no containers.

The containers are the one faked part: ``FakeBackendRecorder`` keeps them in memory and
records every call (the ``ContainerBackend`` contract of ``hivetui.core.ports``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hivetui.core.events import ApprovalRequested, ContainerCrash, Notification, StatusChanged
from hivetui.core.hive import Hive
from hivetui.core.names import OPERATOR
from hivetui.core.operator import Operator, OperatorSession
from hivetui.core.ports import ContainerExit, ContainerSpec
from hivetui.tui.app import HiveApp, create_app
from hivetui.tui.screens.agent_detail import AgentDetailScreen
from hivetui.tui.screens.command_line import CommandLineScreen
from hivetui.tui.screens.confirm import ConfirmScreen
from hivetui.tui.screens.fleet import FleetScreen
from hivetui.tui.screens.help import HelpScreen
from hivetui.tui.widgets.agent.log_pane import LogPane
from hivetui.tui.widgets.agent.message_log import MessageLog
from hivetui.tui.widgets.fleet.table import FleetTable


class FakeBackendRecorder:
    """In-memory containers that record each call; logs from a dict, follow from a queue."""

    name = "fake-recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.live: set[str] = set()
        self.log_lines: dict[str, list[str]] = {}
        self.followers: list[asyncio.Queue[str]] = []

    async def create(self, spec: ContainerSpec) -> None:
        self.calls.append(("create", spec.name))

    async def start(self, name: str) -> None:
        self.calls.append(("start", name))
        self.live.add(name)

    async def stop(self, name: str) -> None:
        self.calls.append(("stop", name))
        self.live.discard(name)

    async def restart(self, name: str) -> None:
        self.calls.append(("restart", name))
        self.live.add(name)

    async def destroy(self, name: str) -> None:
        self.calls.append(("destroy", name))
        self.live.discard(name)

    async def rebuild(self, spec: ContainerSpec) -> None:
        self.calls.append(("rebuild", spec.name))

    async def running(self) -> set[str]:
        return set(self.live)

    def shell_argv(self, name: str) -> list[str]:
        return ["/bin/sh"]

    async def logs(self, name: str, lines: int) -> list[str]:
        return self.log_lines.get(name, [])[-lines:]

    async def follow_logs(self, name: str) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self.followers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self.followers.remove(queue)

    def emit(self, line: str) -> None:
        for queue in self.followers:
            queue.put_nowait(line)

    def exits(self) -> AsyncIterator[ContainerExit] | None:
        return None

    async def aclose(self) -> None:
        return None


class CountingAPI:
    """Delegates to a real OperatorSession and counts the reads the app makes."""

    def __init__(self, inner: OperatorSession) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if callable(value) and name not in ("events", "follow_logs"):
            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return value(*args, **kwargs)
            return counted
        return value


@pytest.fixture
async def hive(tmp_path: Path) -> AsyncIterator[Hive]:
    os.environ["TZ"] = "UTC"
    time.tzset()
    backend = FakeBackendRecorder()
    async with Hive(tmp_path / "state", backend=backend) as h:
        for name, role in (("boss", "manager"), ("alice", "worker"), ("bob", "worker"),
                           ("carol", "worker")):
            await h.registry.create(name, role=role, runtime="scripted:echo",
                                    model="claude-sonnet-4-5")
            await h.registry.update(name, state="running", status="idle")
            backend.live.add(name)
        yield h


def backend_of(hive: Hive) -> FakeBackendRecorder:
    assert isinstance(hive.backend, FakeBackendRecorder)
    return hive.backend


def make_app(hive: Hive, **options: Any) -> tuple[HiveApp, list[tuple[str, str, str]]]:
    api = CountingAPI(OperatorSession(hive, Operator("local:tester")))
    app = create_app(api, bell=False, **options)  # type: ignore[arg-type]
    return app, record_toasts(app)


def record_toasts(app: HiveApp) -> list[tuple[str, str, str]]:
    """(title, message, severity) of every toast the app shows from now on."""
    toasts: list[tuple[str, str, str]] = []
    notify = app.notify

    def recording_notify(message: str, *, title: str = "", severity: str = "information",
                         **kw: Any) -> None:
        toasts.append((title, message, severity))
        notify(message, title=title, severity=severity, **kw)  # type: ignore[arg-type]

    app.notify = recording_notify  # type: ignore[method-assign]
    return toasts


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def until_async(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def rows(app: HiveApp) -> list[str]:
    return list(app.screen.query_one(FleetTable).order)


def state_cell(app: HiveApp, name: str) -> str:
    table = app.screen.query_one(FleetTable)
    return str(table.get_cell(name, "state"))


async def open_agent(pilot: Any, app: HiveApp, name: str) -> AgentDetailScreen:
    await pilot.press("slash", *name, "enter", "enter")
    await until(lambda: isinstance(app.screen, AgentDetailScreen))
    assert isinstance(app.screen, AgentDetailScreen)
    assert app.screen.agent == name
    return app.screen


async def test_fleet_lists_agents_with_state_words(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)):
        await until(lambda: isinstance(app.screen, FleetScreen) and len(rows(app)) == 4)
        assert "idle" in state_cell(app, "alice")


async def test_filter_the_fleet_with_slash(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: isinstance(app.screen, FleetScreen) and len(rows(app)) == 4)
        await pilot.press("slash", "b", "o")
        await until(lambda: sorted(rows(app)) == ["bob", "boss"])
        await pilot.press("b")
        await until(lambda: rows(app) == ["bob"])
        await pilot.press("escape")
        await until(lambda: len(rows(app)) == 4)


async def test_open_agent_and_send_from_compose_box(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = await open_agent(pilot, app, "alice")
        await pilot.press("2", "c", *"hello alice", "enter")
        await until_async(lambda: _has_message(hive, "alice", "hello alice"))
        log = screen.query_one(MessageLog)
        await until(lambda: any(m.body == "hello alice" for m in log.shown()))
        assert [m.sender for m in log.shown() if m.body == "hello alice"] == [OPERATOR]


async def _has_message(hive: Hive, name: str, body: str) -> bool:
    return any(m.body == body and m.sender == OPERATOR for m in await hive.bus.history(name))


async def test_model_by_command_line(hive: Hive) -> None:
    app, toasts = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("colon", *"model bob claude-opus-4-1", "enter")
        await until(lambda: hive.registry.get("bob").model_override == "claude-opus-4-1")
        await until(lambda: "opus-4-1*" in str(app.screen.query_one(FleetTable)
                                                 .get_cell("bob", "model")))
        assert any("bob now uses claude-opus-4-1" in message for _, message, _ in toasts)


@pytest.mark.slow
async def test_model_by_slash_command_in_compose_box(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await open_agent(pilot, app, "carol")
        await pilot.press("2", "c", *"/model claude-haiku-4-5", "enter")
        await until(lambda: hive.registry.get("carol").model_override == "claude-haiku-4-5")
        assert not await hive.bus.history("carol")  # a command, not a message


async def test_unknown_command_shows_one_line_error(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("colon", *"frobnicate", "enter")
        await pilot.pause()
        assert isinstance(app.screen, CommandLineScreen)
        error = str(app.screen.query_one("#command-error").render())
        assert "unknown command :frobnicate" in error
        assert app.screen.query_one("#command-error").has_class("-shown")
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen))


@pytest.mark.slow
async def test_logs_follow_search_and_filter(hive: Hive) -> None:
    backend = backend_of(hive)
    backend.log_lines["alice"] = [f"line {i} {'ERROR boom' if i % 5 == 0 else 'ok'}"
                                  for i in range(1, 31)]
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = await open_agent(pilot, app, "alice")
        await pilot.press("3")
        pane = screen.query_one(LogPane)
        await until(lambda: len(pane.lines) == 30 and pane.following)
        backend.emit("line 31 ERROR late")
        await until(lambda: "line 31 ERROR late" in pane.lines)
        await pilot.press("slash", *"error", "enter")
        await until(lambda: len(pane.matches) == 7)
        assert pane.match_index == 0
        await pilot.press("n")
        assert pane.match_index == 1
        assert not pane.following  # jumping to a match stops following
        await pilot.press("F", *"late", "enter")
        await until(lambda: pane.filter_text == "late")
        assert pane._shown == ["line 31 ERROR late"]


async def test_stop_an_agent_by_key(hive: Hive) -> None:
    app, toasts = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("slash", *"alice", "enter", "x")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("ctrl+s")
        await until(lambda: ("stop", "alice") in backend_of(hive).calls)
        await until(lambda: "stopped" in state_cell(app, "alice"))
        assert hive.registry.get("alice").state == "stopped"
        assert any("alice stopped" in message for _, message, _ in toasts)


async def test_destroy_asks_first(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("slash", *"carol", "enter", "D")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen))
        assert ("destroy", "carol") not in backend_of(hive).calls
        await pilot.press("D")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("ctrl+s")
        await until(lambda: ("destroy", "carol") in backend_of(hive).calls)
        await until(lambda: "carol" not in rows(app))


async def test_event_updates_the_fleet_without_polling(hive: Hive) -> None:
    app, _ = make_app(hive)
    api = app.api
    assert isinstance(api, CountingAPI)
    async with app.run_test(size=(120, 30)):
        await until(lambda: len(rows(app)) == 4)
        await asyncio.sleep(0.6)  # let start-up reads (sparklines) finish
        api.calls.clear()
        await asyncio.sleep(1.0)
        assert [c for c in api.calls if c in ("agents", "agent")] == []  # no polling
        await hive.registry.update("bob", status="waiting_operator",
                                   status_detail="may I push?")
        await until(lambda: "waiting" in state_cell(app, "bob"), timeout=2)
        assert api.calls.count("agent") == 1 and "agents" not in api.calls
        assert "YOU" in str(app.screen.query_one(FleetTable).get_cell("bob", "mark"))


async def test_a_burst_of_events_is_coalesced(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)):
        await until(lambda: len(rows(app)) == 4)
        before = app.pump.refreshes
        for i in range(300):
            hive.hub.publish(StatusChanged(agent="alice", status="in_turn", detail=str(i)))
            if i % 50 == 0:
                await asyncio.sleep(0.01)
        await until(lambda: not app.pump.busy)
        await asyncio.sleep(0.15)
        assert app.pump.events_seen >= 300
        assert app.pump.refreshes - before <= 4


async def test_alerts_toast_and_ring_the_bell(hive: Hive) -> None:
    app, toasts = make_app(hive)
    app.ring_bell = True
    async with app.run_test(size=(120, 30)):
        await until(lambda: len(rows(app)) == 4)
        hive.hub.publish(ApprovalRequested(id=7, kind="spawn", agent="dave"))
        await until(lambda: any(t == "Approval requested" for t, _, _ in toasts))
        assert app.bells == 1
        await asyncio.sleep(BELL_GAP)
        hive.hub.publish(ContainerCrash(agent="bob", exit_status=137,
                                        last_log_lines=("killed",)))
        await until(lambda: any(t == "bob crashed" for t, _, _ in toasts))
        assert app.bells == 2


BELL_GAP = 1.05


async def test_api_error_is_a_toast_not_a_crash(hive: Hive) -> None:
    app, toasts = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("colon", *"stop ghost", "enter")
        await until(lambda: any(sev == "error" for _, _, sev in toasts))
        title, message, _ = next(t for t in toasts if t[2] == "error")
        assert "ghost" in message and title
        assert isinstance(app.screen, FleetScreen)


async def test_help_lists_every_key(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        listed = {description for _, bindings in app.screen.sections
                  for _, description in HelpScreen.rows(bindings)}
        for binding in (*FleetScreen.BINDINGS, *AgentDetailScreen.BINDINGS, *LogPane.BINDINGS):
            assert binding.description in listed  # type: ignore[union-attr]
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen))


async def test_queue_screens_open_by_command_and_key(hive: Hive) -> None:
    from hivetui.tui.screens.approvals import ApprovalsScreen
    from hivetui.tui.screens.kept import KeptScreen
    from hivetui.tui.screens.questions import QuestionsScreen

    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("colon", *"approvals", "enter")
        await until(lambda: isinstance(app.screen, ApprovalsScreen))
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen))
        await pilot.press("w")
        await until(lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("colon", *"kept", "enter")
        await until(lambda: isinstance(app.screen, KeptScreen))
        await pilot.press("colon", *"agents", "enter")
        await until(lambda: isinstance(app.screen, FleetScreen))
        assert len(app.screen_stack) == 2


async def test_question_reaches_the_open_questions_screen(hive: Hive) -> None:
    from hivetui.tui.screens.questions import QuestionsScreen

    app, toasts = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("w")
        await until(lambda: isinstance(app.screen, QuestionsScreen))
        screen = app.screen
        seen: list[object] = []
        original = screen.handle_event  # type: ignore[attr-defined]

        async def recording(event: object) -> None:
            seen.append(event)
            await original(event)

        screen.handle_event = recording  # type: ignore[attr-defined]
        await hive.questions.ask("boss", "Ship it?", ["yes", "no"])
        await until(lambda: any(type(e).__name__ == "QuestionAsked" for e in seen))
        await until(lambda: app.hive_context.state.questions_pending == 1)
        hive.hub.publish(Notification(level="info", title="marker", text="after it"))
        await until(lambda: bool(toasts))
        assert [t for t, _, _ in toasts] == ["marker"]  # the list shows it: no toast on it


async def test_terminal_tab_runs_the_shell_argv(hive: Hive) -> None:
    from hivetui.tui.widgets.agent.terminal_pane import TerminalPane

    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = await open_agent(pilot, app, "alice")
        await pilot.press("4")
        pane = screen.query_one(TerminalPane)
        await until(lambda: pane.terminal is not None and pane.terminal.running)
        assert pane.terminal is not None
        assert pane.terminal.argv == ["/bin/sh"]
        entries = await hive.audit.query(10)
        assert any(e.action == "terminal" and e.target == "alice" for e in entries)


async def test_palette_offers_hive_commands(hive: Hive) -> None:
    app, _ = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Stop alice")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(lambda: ("stop", "alice") in backend_of(hive).calls)


async def test_charts_follow_telemetry(hive: Hive) -> None:
    from hivetui.tui.widgets.agent.telemetry_chart import TelemetryChart

    app, _ = make_app(hive)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = await open_agent(pilot, app, "alice")
        chart = screen.query_one("#chart-turns", TelemetryChart)
        await until(lambda: screen._charts_timer is None and not screen._charts_due)
        assert chart.points == 0
        hive.telemetry.record("alice", {"turns_per_min": 3.0, "inbox_depth": 1.0})
        await hive.telemetry.flush()  # -> TelemetryUpdated -> charts re-read (<= 1 Hz)
        await until(lambda: chart.points == 1, timeout=4)


async def test_lagged_stream_rereads_everything(hive: Hive) -> None:
    from hivetui.core.events import Lagged

    app, _ = make_app(hive)
    api = app.api
    assert isinstance(api, CountingAPI)
    async with app.run_test(size=(120, 30)):
        await until(lambda: len(rows(app)) == 4)
        await asyncio.sleep(0.3)
        api.calls.clear()
        hive.hub.publish(Lagged(dropped=12))
        await until(lambda: "agents" in api.calls and "approvals" in api.calls)
