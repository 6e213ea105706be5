"""The operator's app. It only wires: screens, global keys, the event pump, alerts.

One interface either way in: ``api`` is an embedded ``OperatorSession`` or a
``ControlClient`` across the control socket. The app follows ``api.events()`` through an
:class:`~hivetui.tui.pump.EventPump` (coalesced, at most ~10 refreshes a second) and never
polls the database.

    app = create_app(api)          # tests drive it with ``app.run_test()``
    await run_app(api)             # the CLI
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.geometry import Size
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen

from hivetui.core.api import HiveAPI
from hivetui.core.events import (
    AgentChanged,
    ApprovalRequested,
    ContainerCrash,
    CrashLoop,
    Event,
    Notification,
    QuestionAsked,
)
from hivetui.core.visible import visible, visible_line
from hivetui.core.words import counted
from hivetui.terminal.palette import XTERM, Rgb
from hivetui.tui.alerts import AlertEchoes
from hivetui.tui.commands import Navigate
from hivetui.tui.context import HiveContext
from hivetui.tui.executor import CommandRunner
from hivetui.tui.guard import attempt, show_error
from hivetui.tui.messages import HiveCommand, HiveRefreshed
from hivetui.tui.palette import HiveCommands
from hivetui.tui.pump import EventPump
from hivetui.tui.screens.command_line import CommandLineScreen
from hivetui.tui.screens.fleet import FleetScreen
from hivetui.tui.screens.follows import TakesQueueEvents, TakesRefreshes, TakesRosterChanges
from hivetui.tui.screens.help import HelpScreen, Section
from hivetui.tui.screens.prompt import PromptScreen
from hivetui.tui.screens.read_only import GuardedScreen, mark_refused
from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.shared_css import SharedParseStylesheet
from hivetui.tui.state import Changes, HiveState
from hivetui.tui.widgets.approvals.live import LiveEvent
from hivetui.tui.widgets.fleet.table import FleetTable
from hivetui.tui.workers import ReportsWorkerErrors, WorkFailed

log = logging.getLogger(__name__)

Lifespan = Callable[[], AbstractAsyncContextManager[Any]]
ServicesStart = Callable[[], Awaitable[None]]
BELL_MIN_INTERVAL_S = 1.0
_SEVERITY = {"info": "information", "warning": "warning", "error": "error"}
#: App actions whose keys go to the program while the embedded terminal has the keyboard.
TERMINAL_KEEPS = frozenset({"command_palette", "quit"})
#: looked up, never imported here: start-up stays light until a terminal opens
_TERMINAL_WIDGET = "hivetui.tui.widgets.terminal.widget"
#: an attached app (every SSH session is one) runs on the core's machine for an operator who
#: may be elsewhere: it never writes files there (the palette's screenshot)
_REMOTE = "attached"
SAVE_REFUSED = ("an attached session cannot save files on the hive's machine; "
                "take the screenshot with your own terminal")


class HiveApp(ReportsWorkerErrors, App[None]):
    TITLE = "hivetui"
    CSS_PATH = style_path("app.tcss")
    COMMANDS = App.COMMANDS | {HiveCommands}
    BINDINGS = [
        # from every screen whose own keys leave the letter free (on the queues a approves
        # or answers): the alerts' toasts say which key works where they show
        Binding("a", "goto('approvals')", "Approvals"),
        Binding("w", "goto('questions')", "Questions"),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_line", "Command"),
    ]
    #: true from the first frame until ``start_services`` (the embedded core's bridge,
    #: control socket, crash_watch seeding) is done; the header says "starting…"
    starting: reactive[bool] = reactive(False)

    def __init__(self, api: HiveAPI, *, clock: Callable[[], float] = time.time,
                 where: str = "", lifespan: Lifespan | None = None, bell: bool = True,
                 refresh_interval: float = 0.1,
                 start_services: ServicesStart | None = None,
                 terminal_palette: Sequence[Rgb] = XTERM) -> None:
        super().__init__()
        # every stylesheet of the process shares parsed CSS (see shared_css)
        self.stylesheet = SharedParseStylesheet(variables=self.get_css_variables())
        self.api = api
        self.hive_context = HiveContext(api, HiveState(api), clock, where,
                                        terminal_palette=tuple(terminal_palette))
        self.runner = CommandRunner(self, self.hive_context)
        self.pump = EventPump(api, self.hive_context.state, self._deliver, self._alert,
                              self._pump_error, refresh_interval, forward=self._forward)
        self.ring_bell = bell
        self.bells = 0
        self._last_bell = 0.0
        self._echoes = AlertEchoes()
        self._lifespan = lifespan
        self._stack = AsyncExitStack()
        self._start_services = start_services
        #: why ``start_services`` failed (the app exits; ``run_app`` raises it)
        self.start_error: Exception | None = None
        self._loading: asyncio.Task[Changes] | None = None
        #: the terminal size the screens were last laid out for (see on_resize)
        self._terminal_size: Size | None = None

    def begin_loading(self) -> asyncio.Task[Changes]:
        """Read the hive's state from now on, while Textual starts (``run_app`` calls it
        just before running the app); the first frame waits for it in ``on_mount``."""
        self._loading = asyncio.create_task(self.hive_context.state.load(), name="hive-load")
        return self._loading

    async def on_mount(self) -> None:
        if self._lifespan is not None:
            await self._stack.enter_async_context(self._lifespan())
        loading, self._loading = self._loading, None
        await attempt(self, loading if loading is not None else self.hive_context.state.load())
        await self.push_screen(FleetScreen(self.hive_context))
        self.run_worker(self._pump_events(), name="hive-events", group="pump",
                        exit_on_error=False)
        self.run_worker(self.pump.refresh(), name="hive-refresh", group="pump",
                        exit_on_error=False)
        if self._start_services is not None:
            self.starting = True
            self.call_after_refresh(self._begin_services)
        self.call_after_refresh(self._freeze_startup_heap)

    def _begin_services(self) -> None:
        """After the first frame: the core's services start while keys keep working."""
        self.run_worker(self._services_up(), name="hive-services", group="services",
                        exit_on_error=False)

    async def _services_up(self) -> None:
        assert self._start_services is not None
        try:
            await self._start_services()
        except Exception as exc:  # the hive cannot run without them: leave and say why
            log.exception("the hive's services did not start")
            self.start_error = exc
            self.exit(return_code=2)
            return
        self.starting = False

    def on_resize(self, event: events.Resize) -> None:
        """A terminal resize to the size the app already has is dropped: Textual would lay
        every screen out again anyway (the terminal driver reports the starting size a
        second time, usually after the first frame, when other sessions may still be
        starting on the same CPU)."""
        if event.size == self._terminal_size:
            event.prevent_default()
            event.stop()
            return
        self._terminal_size = event.size

    async def on_event(self, event: events.Event) -> None:
        widget_module = sys.modules.get(_TERMINAL_WIDGET)  # no terminal before it is loaded
        if isinstance(event, events.Key) and widget_module is not None:
            # a flooding terminal waits while the app answers
            widget_module.note_app_key(self.focused, event.key)
        await super().on_event(event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Textual's priority keys (ctrl+p palette, ctrl+q quit) belong to the program in
        the embedded terminal (readline's previous-line, XON): ctrl+] first leaves it."""
        return not (action in TERMINAL_KEEPS and self._terminal_has_keys())

    def _terminal_has_keys(self) -> bool:
        # Looked up, not imported: until a terminal opens its module isn't loaded (start-up
        # stays light), and no widget can be one.
        widget_module = sys.modules.get(_TERMINAL_WIDGET)
        return widget_module is not None and isinstance(self.focused, widget_module.Terminal)

    def get_driver_class(self) -> type[Driver]:
        from hivetui.tui.widgets.terminal.alt_keys import use_alt_key_parser

        use_alt_key_parser()  # alt keys reach the embedded terminal as typed (ESC + key)
        return super().get_driver_class()

    @staticmethod
    def _freeze_startup_heap() -> None:
        """Move everything alive after start-up out of the garbage collector's view: full
        collections then stop walking Textual's whole heap, which otherwise shows up as
        key latency during terminal floods (bench/terminal.py, --no-gc-freeze)."""
        gc.collect()
        gc.freeze()

    async def on_unmount(self) -> None:
        await self._stack.aclose()

    async def _pump_events(self) -> None:
        # a broken stream (core gone) fails the worker: on_work_failed says so
        await self.pump.follow()
        self.notify("the hive's event stream ended: the view no longer updates",
                    title="Disconnected", severity="error")

    def on_work_failed(self, message: WorkFailed) -> None:
        """Every worker failure of the UI (see :mod:`hivetui.tui.workers`): logged with its
        traceback, shown as a toast; the app goes on."""
        worker, error = message.worker, message.worker.error
        log.error("worker %s failed", worker.name or worker.description, exc_info=error)
        if error is not None:
            show_error(self, error)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every toast (widgets' and screens' ``notify`` come here): its text may be an
        agent's, so it is shown through the one sanitizer."""
        super().notify(visible(message), title=visible_line(title), severity=severity,
                       timeout=timeout, markup=markup)

    # --- files on the app's machine ---------------------------------------------------
    @property
    def saves_files(self) -> bool:
        return self.hive_context.where != _REMOTE

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if self.saves_files or command.title != "Screenshot":
                yield command

    def _save_refused(self) -> bool:
        if not self.saves_files:
            self.notify(SAVE_REFUSED, title="Not saved", severity="warning", markup=False)
        return not self.saves_files

    def deliver_text(self, *args: Any, **kwargs: Any) -> str | None:
        return None if self._save_refused() else super().deliver_text(*args, **kwargs)

    def deliver_binary(self, *args: Any, **kwargs: Any) -> str | None:
        return None if self._save_refused() else super().deliver_binary(*args, **kwargs)

    # --- live updates and alerts -----------------------------------------------------
    def _deliver(self, changes: Changes) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, TakesRefreshes):
                screen.post_message(HiveRefreshed(changes))
            elif isinstance(screen, TakesRosterChanges) and (changes.added or changes.removed):
                # agents came or went: the kept list may have changed (one re-read)
                name = min(changes.added | changes.removed)
                screen.post_message(LiveEvent(AgentChanged(agent=name, what="kept")))

    def _forward(self, ev: Event) -> None:
        """Approval / question events, as they come, to the queue screens (they filter)."""
        for screen in self.screen_stack:
            if isinstance(screen, TakesQueueEvents):
                screen.post_message(LiveEvent(ev))

    def _pump_error(self, exc: BaseException) -> None:
        show_error(self, exc)

    def _alert(self, ev: Event) -> None:
        if isinstance(ev, ApprovalRequested | QuestionAsked):
            self._alert_queue(ev)
        elif isinstance(ev, ContainerCrash):
            last = f": {ev.last_log_lines[-1]}" if ev.last_log_lines else ""
            status = "unknown" if ev.exit_status is None else ev.exit_status
            self.notify(f"exit status {status}{last}", title=f"{ev.agent} crashed",
                        severity="error", markup=False)
            self._echoes.shown(ev)
        elif isinstance(ev, CrashLoop):
            self.notify(f"{counted(ev.count, 'crash', 'crashes')} in {ev.window_s:.0f}s — "
                        "restart it (r) when "
                        "fixed", title=f"{ev.agent} is crash-looping", severity="error",
                        markup=False)
            self._echoes.shown(ev)
        elif isinstance(ev, Notification):
            if self._echoes.is_echo(ev):  # the crash alert above already said it
                log.debug("notification %r repeats a crash alert: not shown", ev.title)
                return
            self.notify(ev.text, title=ev.title, severity=_SEVERITY.get(ev.level, "information"),  # type: ignore[arg-type]
                        markup=False)
            return
        self._ring()

    def _alert_queue(self, ev: ApprovalRequested | QuestionAsked) -> None:
        """A request for the operator: a toast that says how to reach its queue from here,
        or, when that queue is on screen already, only the bell (the list shows it, and a
        toast would cover the diff it announces)."""
        target, key = ("approvals", "a") if isinstance(ev, ApprovalRequested) else \
            ("questions", "w")
        if isinstance(self.screen, TakesQueueEvents) and target == self.screen.QUEUE:
            log.debug("%s arrived while its queue is shown: no toast", type(ev).__name__)
            return
        how = self.how_to_open(target, key)
        if isinstance(ev, ApprovalRequested):
            self.notify(f"#{ev.id} {ev.kind} for {ev.agent} — {how}",
                        title="Approval requested", severity="warning", markup=False)
        else:
            self.notify(f"{ev.question} — {how}", title=f"Question from {ev.agent}",
                        severity="warning", markup=False)

    def how_to_open(self, target: str, key: str) -> str:
        """What the operator types, where the keyboard is now, to open ``target``'s queue."""
        if self._terminal_has_keys():
            return f"ctrl+] then {key}"
        screen = self.screen
        if screen.is_modal:  # the app's keys wait until the dialog closes
            return f"after this dialog, {key} or :{target}"
        focused = self.focused
        if focused is not None and focused.check_consume_key(key, key):
            return f"escape then {key}"  # a text box types it
        active = screen.active_bindings.get(key)
        if active is None or active.binding.action != f"goto('{target}')":
            return f"type :{target}"  # this screen's own key (approve, answer)
        return f"press {key}"

    def action_goto(self, target: str) -> None:
        self.post_message(HiveCommand(Navigate(target)))

    def _ring(self) -> None:
        now = time.monotonic()
        if not self.ring_bell or now - self._last_bell < BELL_MIN_INTERVAL_S:
            return
        self._last_bell = now
        self.bells += 1
        self.bell()

    # --- commands ----------------------------------------------------------------------
    def on_hive_command(self, message: HiveCommand) -> None:
        message.stop()
        self.run_worker(self.runner.run(message.command), group="commands",
                        exit_on_error=False)

    def action_command_line(self) -> None:
        def chosen(command: Any) -> None:
            if command is not None:
                self.post_message(HiveCommand(command))

        self.push_screen(CommandLineScreen(sorted(self.hive_context.state.agents)), chosen)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.help_sections()))

    def help_sections(self) -> list[Section]:
        # the screens' modules only now: the app starts without them (see screens.follows)
        from hivetui.tui.screens.agent_detail import AgentDetailScreen
        from hivetui.tui.screens.approvals import ApprovalsScreen
        from hivetui.tui.screens.kept import KeptScreen
        from hivetui.tui.screens.questions import QuestionsScreen
        from hivetui.tui.widgets.agent.log_pane import LogPane
        from hivetui.tui.widgets.agent.terminal_pane import TerminalPane
        from hivetui.tui.widgets.agent.transcript_pane import TranscriptPane

        app_keys = [*self.BINDINGS, Binding("ctrl+p", "command_palette", "Command palette"),
                    Binding("ctrl+q", "quit", "Quit")]

        def keys(screen: type[GuardedScreen]) -> Sequence[BindingType]:
            if not self.api.read_only:
                return screen.BINDINGS
            return mark_refused(screen.BINDINGS, screen.READ_ONLY_REFUSED)

        return [
            ("everywhere", app_keys),
            ("fleet", [*keys(FleetScreen), *FleetTable.BINDINGS]),
            ("agent", keys(AgentDetailScreen)),
            ("agent · logs tab", LogPane.BINDINGS),
            ("agent · transcript tab", [*TranscriptPane.BINDINGS,
                                        Binding("enter", "expand", "Expand / fold a line")]),
            ("agent · terminal tab", [*TerminalPane.BINDINGS,
                                      Binding("ctrl+right_square_bracket", "release",
                                              "Leave the terminal (ctrl+])")]),
            ("approvals", keys(ApprovalsScreen)),
            ("questions", keys(QuestionsScreen)),
            ("kept agents and drafts", keys(KeptScreen)),
            ("dialogs", PromptScreen.BINDINGS),
        ]


def create_app(api: HiveAPI, **options: Any) -> HiveApp:
    """The app over ``api``; ``options`` as :class:`HiveApp` takes them (clock, where, …)."""
    return HiveApp(api, **options)


async def run_app(api: HiveAPI, *, embedded_hive: object | None = None,
                  **options: Any) -> None:
    """Run the app full screen until the operator quits (the CLI's entry)."""
    options.setdefault("where", "embedded" if embedded_hive is not None else "attached")
    app = create_app(api, **options)
    loading = app.begin_loading()
    try:
        await app.run_async()
    finally:
        loading.cancel()  # only if the app ended before its first frame waited for it
    if app.start_error is not None:
        raise app.start_error
