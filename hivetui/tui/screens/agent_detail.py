"""One agent: overview with live charts, messages, logs, its turns' transcript, a terminal.

Keys act on this agent: start, stop, restart, destroy (asks), rebuild, set model.
While the terminal has the keyboard the footer shows only its own keys (every other key
goes to the shell). A screen whose shell runs is kept when left (installed by the
command runner), so leaving never ends the shell; it goes once the shell has ended.
The charts re-read the telemetry when the hive says it changed, at most once a second,
and only while the overview tab is shown.
"""

from __future__ import annotations

import logging
import time

from textual import on
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import TabbedContent, TabPane

from hivetui.core.api import HiveAPI
from hivetui.core.views import AgentView
from hivetui.tui.commands import TABS, AgentAction, Navigate, SetModel
from hivetui.tui.context import HiveContext
from hivetui.tui.guard import attempt
from hivetui.tui.messages import HiveCommand, HiveRefreshed
from hivetui.tui.screens.fleet import AGENT_REFUSED
from hivetui.tui.screens.follows import TakesRefreshes
from hivetui.tui.screens.prompt import PromptScreen
from hivetui.tui.screens.read_only import GuardedScreen
from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.widgets.agent.charts import CHART_KEYS, TelemetryCharts
from hivetui.tui.widgets.agent.info import AgentInfoPanel
from hivetui.tui.widgets.agent.log_pane import LogPane
from hivetui.tui.widgets.agent.messages_pane import MessagesPane
from hivetui.tui.widgets.agent.terminal_pane import TerminalPane
from hivetui.tui.widgets.agent.transcript_pane import TranscriptPane
from hivetui.tui.widgets.chrome.footer import HiveFooter
from hivetui.tui.widgets.chrome.hive_header import HiveHeader
from hivetui.tui.widgets.terminal import Terminal
from hivetui.tui.workers import ReportsWorkerErrors

log = logging.getLogger(__name__)

CHART_INTERVAL_S = 1.0
CHART_WINDOW_S = 3600.0


class AgentDetailScreen(ReportsWorkerErrors, GuardedScreen, TakesRefreshes):
    CSS_PATH = style_path("agent.tcss")
    READ_ONLY_REFUSED = AGENT_REFUSED

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("u", "act('start')", "Start", show=False),
        Binding("x", "act('stop')", "Stop"),
        Binding("r", "act('restart')", "Restart"),
        Binding("D", "act('destroy')", "Destroy", show=False),
        Binding("b", "act('rebuild')", "Rebuild", show=False),
        Binding("m", "model", "Model"),
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('messages')", "Messages", show=False),
        Binding("3", "tab('logs')", "Logs", show=False),
        Binding("4", "tab('terminal')", "Shell"),
        Binding("5", "tab('transcript')", "Transcript", show=False),
    ]

    def __init__(self, ctx: HiveContext, name: str, tab: str = "overview",
                 turn: int | None = None) -> None:
        super().__init__(classes="hive-screen")
        self.ctx = ctx
        self.agent = name
        self.initial_tab = tab if tab in TABS else "overview"
        self.initial_turn = turn
        self._charts_due = True
        self._charts_at = -CHART_INTERVAL_S
        self._charts_timer: Timer | None = None
        self._activating: set[str] = set()
        self._shown_tab: str | None = None
        self.sub_title = name

    @property
    def hive_api(self) -> HiveAPI:
        return self.ctx.api

    @property
    def view(self) -> AgentView | None:
        return self.ctx.state.agents.get(self.agent)

    def compose(self) -> ComposeResult:
        api = self.ctx.api
        yield HiveHeader(api.operator, self.ctx.where, read_only=api.read_only,
                         id="hive-header")
        with TabbedContent(initial=self.initial_tab, id="agent-tabs"):
            with TabPane("Overview", id="overview"), Vertical(id="overview-body"):
                yield AgentInfoPanel(self.ctx.clock, id="agent-info")
                yield TelemetryCharts(id="charts")
            with TabPane("Messages", id="messages"):
                yield MessagesPane(api, self.agent, id="messages-pane")
            with TabPane("Logs", id="logs"):
                yield LogPane(api, self.agent, id="log-pane")
            with TabPane("Transcript", id="transcript"):
                yield TranscriptPane(api, self.agent, id="transcript-pane")
            with TabPane("Terminal", id="terminal"):
                yield TerminalPane(api, self.agent, palette=self.ctx.terminal_palette,
                                   id="terminal-pane")
        yield HiveFooter()

    async def on_mount(self) -> None:
        self._show_header()
        self._show_info()
        await self._activate(self.initial_tab)

    # --- live updates -------------------------------------------------------------
    def on_hive_refreshed(self, message: HiveRefreshed) -> None:
        changes = message.changes
        if changes.counts or changes.changed or changes.removed or changes.full:
            self._show_header()
        if self.agent in changes.changed or self.agent in changes.removed or changes.full:
            self._show_info()
        pane = self.query_one(MessagesPane)
        if pane.loaded and pane.dead_letters != self._dead_letters():
            # messages were set aside: re-read them, marked (rare: after failed turns)
            self.run_worker(pane.load(self._dead_letters()), group="messages", exclusive=True,
                            exit_on_error=False)
        elif changes.messages and pane.loaded:
            pane.add_live(changes.messages)
        if self.agent in changes.telemetry or changes.full:
            self._charts_due = True
            self._schedule_charts()

    def _dead_letters(self) -> int:
        view = self.view
        return view.dead_letters if view is not None else 0

    def on_screen_resume(self) -> None:
        self._show_header()
        self._show_info()
        self._terminal_visible(True)

    def on_screen_suspend(self) -> None:
        self._terminal_visible(False)

    # --- the shell ------------------------------------------------------------------
    @property
    def shell_running(self) -> bool:
        return self.query_one(TerminalPane).shell_running

    def _terminal_visible(self, visible: bool) -> None:
        terminal = self.query_one(TerminalPane).terminal
        if terminal is not None:
            terminal.set_visible(visible and self.query_one(TabbedContent).active == "terminal")

    @on(Terminal.Exited)
    async def _shell_exited(self) -> None:
        """A kept screen (left while its shell ran) goes once the shell has ended."""
        app = self.app
        if app.is_screen_installed(self) and self not in app.screen_stack:
            app.uninstall_screen(self)
            await self.remove()

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """In the terminal every key but its own goes to the shell: show only its keys."""
        bindings = super().active_bindings
        focused = self.focused
        if isinstance(focused, Terminal):
            return {key: active for key, active in bindings.items() if active.node is focused}
        return bindings

    def _show_header(self) -> None:
        state = self.ctx.state
        self.query_one(HiveHeader).update_counts(state.agents, state.approvals_pending,
                                                 state.questions_pending)

    def _show_info(self) -> None:
        view = self.view
        info = self.query_one(AgentInfoPanel)
        if view is None:
            info.update(f"{self.agent} is gone (destroyed): escape goes back to the fleet")
            return
        info.show(view)

    # --- charts -------------------------------------------------------------------
    def _schedule_charts(self) -> None:
        if self.query_one(TabbedContent).active != "overview" or not self._charts_due:
            return
        if self._charts_timer is not None:
            return
        wait = max(0.01, self._charts_at + CHART_INTERVAL_S - self._now_mono())
        self._charts_timer = self.set_timer(wait, self._load_charts_soon)

    def _load_charts_soon(self) -> None:
        self._charts_timer = None
        self.run_worker(self.load_charts(), group="charts", exclusive=True,
                        exit_on_error=False)

    def _now_mono(self) -> float:
        return time.monotonic()

    async def load_charts(self) -> None:
        self._charts_due = False
        self._charts_at = self._now_mono()
        series = await attempt(self.app, self.ctx.api.stats(self.agent, CHART_WINDOW_S,
                                                             CHART_KEYS))
        if series is not None:
            self.query_one(TelemetryCharts).show(series, self.ctx.clock(), CHART_WINDOW_S)
        cost = await attempt(self.app, self.ctx.api.cost(self.agent))
        if cost is not None:
            self.query_one(AgentInfoPanel).show_cost(cost)

    # --- tabs ---------------------------------------------------------------------
    @on(TabbedContent.TabActivated, "#agent-tabs")
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        await self._activate(event.pane.id or "overview")

    async def _activate(self, tab: str) -> None:
        if tab in self._activating or tab == self._shown_tab:
            # mount and the tab bar both announce the first tab, the second maybe after
            # the first finished: a refused terminal would be asked for (and toasted) twice
            return
        self._shown_tab = tab
        self._activating.add(tab)
        try:
            await self._activate_tab(tab)
        finally:
            self._activating.discard(tab)

    async def _activate_tab(self, tab: str) -> None:
        if tab == "overview":
            self._schedule_charts()
        elif tab == "messages":
            pane = self.query_one(MessagesPane)
            if not pane.loaded:
                await pane.load(self._dead_letters())
            pane.query_one("#message-log").focus()
        elif tab == "logs":
            logs = self.query_one(LogPane)
            if not logs.following and not logs.lines:
                await logs.load(follow=True)
            logs.view.focus()
        elif tab == "transcript":
            transcript = self.query_one(TranscriptPane)
            if self.initial_turn is not None:
                turn, self.initial_turn = self.initial_turn, None
                await transcript.load_turn(turn)
            transcript.start()
            transcript.view.focus()
        elif tab == "terminal":
            await self.query_one(TerminalPane).open()

    def show_turn(self, turn: int) -> None:
        """The transcript tab at ``turn`` (from `:grep`)."""
        self.initial_turn = turn
        if self._shown_tab == "transcript":
            self.call_later(self._activate_tab, "transcript")
        self.action_tab("transcript")

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == tab:  # no TabActivated: still give the tab's widget the keys
            self.call_later(self._activate_tab, tab)
        tabs.active = tab

    # --- actions ------------------------------------------------------------------
    def action_back(self) -> None:
        self.post_message(HiveCommand(Navigate("agents")))

    def action_act(self, action: str) -> None:
        self.post_message(HiveCommand(AgentAction(action, self.agent, by_key=True)))

    def action_model(self) -> None:
        view = self.view
        current = view.effective_model if view else ""

        def chosen(model: str | None) -> None:
            if model:
                self.post_message(HiveCommand(SetModel(self.agent, model)))

        self.app.push_screen(PromptScreen(f"Model for {self.agent}", value=current,
                                          placeholder="e.g. claude-opus-4-1"), chosen)
