"""The fleet: every agent, who needs the operator, sorted and filtered.

Rows change only when the hive says so (``HiveRefreshed`` from the event pump). The
turns/min sparklines are fetched when telemetry changes, visible rows first, each agent
at most every ``SPARK_MIN_INTERVAL_S`` and a few agents per tick.
"""

from __future__ import annotations

import asyncio
import logging
import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Label
from textual.worker import Worker

from hivetui.core.api import HiveAPI
from hivetui.core.words import counted
from hivetui.tui.commands import AgentAction, OpenAgent, SetModel
from hivetui.tui.context import HiveContext
from hivetui.tui.guard import attempt
from hivetui.tui.messages import HiveCommand, HiveRefreshed
from hivetui.tui.screens.follows import TakesRefreshes
from hivetui.tui.screens.prompt import PromptScreen
from hivetui.tui.screens.read_only import GuardedScreen
from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.widgets.chrome.footer import HiveFooter
from hivetui.tui.widgets.chrome.hive_header import HiveHeader
from hivetui.tui.widgets.fleet.table import FleetTable
from hivetui.tui.workers import ReportsWorkerErrors

log = logging.getLogger(__name__)

SPARK_WINDOW_S = 1800.0
SPARK_MIN_INTERVAL_S = 5.0
SPARK_BATCH = 12
SPARK_TICK_S = 0.25
TIMES_EVERY_S = 5.0
#: what a read-only session may not do from the fleet and an agent's screen
AGENT_REFUSED = {"act": "{} an agent", "model": "set an agent's model"}


class FleetScreen(ReportsWorkerErrors, GuardedScreen, TakesRefreshes):
    CSS_PATH = style_path("fleet.tcss")
    READ_ONLY_REFUSED = AGENT_REFUSED

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("enter", "open", "Open", show=False),
        Binding("u", "act('start')", "Start", show=False),
        Binding("x", "act('stop')", "Stop"),
        Binding("r", "act('restart')", "Restart"),
        Binding("D", "act('destroy')", "Destroy", show=False),
        Binding("b", "act('rebuild')", "Rebuild", show=False),
        Binding("m", "model", "Model"),
        Binding("l", "logs", "Logs"),
        Binding("t", "shell", "Shell"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, ctx: HiveContext) -> None:
        super().__init__(classes="hive-screen")
        self.ctx = ctx
        self._spark_pending: set[str] = set()
        self._spark_at: dict[str, float] = {}
        self._spark_worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield HiveHeader(self.ctx.api.operator, self.ctx.where,
                         read_only=self.ctx.api.read_only, id="hive-header")
        yield FleetTable(clock=self.ctx.clock, id="fleet")
        yield Label("", id="fleet-status", markup=False)
        yield Input(placeholder="filter: words in name, role, model, state…", id="fleet-filter")
        yield HiveFooter()

    @property
    def hive_api(self) -> HiveAPI:
        return self.ctx.api

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    def on_mount(self) -> None:
        self._sync(None)
        self.call_after_refresh(self._want_sparks, set(self.ctx.state.agents))
        self.set_interval(TIMES_EVERY_S, self.table.refresh_times)

    def on_screen_resume(self) -> None:
        self._sync(None)

    # --- live updates -------------------------------------------------------------
    def on_hive_refreshed(self, message: HiveRefreshed) -> None:
        changes = message.changes
        if changes.full:
            self._sync(None)
        elif changes.changed or changes.removed:
            self._sync(changes.changed | changes.removed)
        elif changes.counts:
            self._show_counts()
        if changes.telemetry:
            self._want_sparks(set(changes.telemetry))

    def _sync(self, names: frozenset[str] | None) -> None:
        self.table.sync(self.ctx.state.agents, names)
        self._show_counts()

    def _show_counts(self) -> None:
        state = self.ctx.state
        self.query_one(HiveHeader).update_counts(state.agents, state.approvals_pending,
                                                 state.questions_pending)
        table = self.table
        shown, total = table.row_count, len(state.agents)
        status = (f"{shown} of {counted(total, 'agent')}" if table.filter_text
                  else counted(total, "agent"))
        if table.filter_text:
            status += f" matching {table.filter_text!r} (escape clears)"
        status += f" · sorted by {table.sort_name} (s)"
        label = self.query_one("#fleet-status", Label)
        if str(label.content) != status:
            label.update(status, layout=False)

    # --- sparklines ---------------------------------------------------------------
    @property
    def sparks_busy(self) -> bool:
        return self._spark_worker is not None and not self._spark_worker.is_finished

    def _want_sparks(self, names: set[str]) -> None:
        """Fetch these (and the rows scrolled to) soon: one worker at a time, which ends with
        the screen."""
        self._spark_pending |= names
        if self._spark_pending and not self.sparks_busy:
            self._spark_worker = self._fetch_sparks()

    @work(group="sparks", exit_on_error=False)

    async def _fetch_sparks(self) -> None:
        """Fetch pending sparklines of the rows in view; the rest wait until scrolled to."""
        table = self.table
        while True:
            now = time.monotonic()
            visible = [n for n in table.visible_names() if n in self._spark_pending]
            due = [n for n in visible
                   if now - self._spark_at.get(n, -SPARK_MIN_INTERVAL_S) >= SPARK_MIN_INTERVAL_S]
            if not visible:
                return
            for name in due[:SPARK_BATCH]:
                self._spark_pending.discard(name)
                if name not in self.ctx.state.agents:
                    continue
                self._spark_at[name] = now
                series = await attempt(self.app, self.ctx.api.stats(
                    name, SPARK_WINDOW_S, ["turns_per_min"]))
                if series is not None:
                    table.set_spark(name, [v for _, v in series.get("turns_per_min", [])])
            await asyncio.sleep(SPARK_TICK_S)

    @on(FleetTable.Scrolled, "#fleet")
    def _scrolled(self) -> None:
        self._want_sparks(set())

    # --- filter and sort ------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#fleet-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self._show_counts()
        self._want_sparks(set())

    @on(Input.Submitted, "#fleet-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            event.input.remove_class("-shown")
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.table.set_filter("")
        self._show_counts()
        self.table.focus()

    def action_sort(self) -> None:
        self.table.cycle_sort()
        self._show_counts()

    # --- acting on the chosen agent ---------------------------------------------------
    def _chosen(self) -> str | None:
        name = self.table.chosen_name
        if name is None:
            self.app.notify("no agent is selected", severity="warning")
        return name

    @on(FleetTable.AgentChosen, "#fleet")
    def _agent_chosen(self, event: FleetTable.AgentChosen) -> None:
        self.post_message(HiveCommand(OpenAgent(event.name)))

    def action_open(self) -> None:
        name = self._chosen()
        if name:
            self.post_message(HiveCommand(OpenAgent(name)))

    def action_logs(self) -> None:
        self._open_tab("logs")

    def action_shell(self) -> None:
        self._open_tab("terminal")

    def _open_tab(self, tab: str) -> None:
        name = self._chosen()
        if name:
            self.post_message(HiveCommand(OpenAgent(name, tab)))

    def action_act(self, action: str) -> None:
        name = self._chosen()
        if name:
            self.post_message(HiveCommand(AgentAction(action, name, by_key=True)))

    def action_model(self) -> None:
        name = self._chosen()
        if name is None:
            return
        view = self.ctx.state.agents.get(name)

        def chosen(model: str | None) -> None:
            if model:
                self.post_message(HiveCommand(SetModel(name, model)))

        self.app.push_screen(PromptScreen(f"Model for {name}",
                                          value=view.effective_model if view else "",
                                          placeholder="e.g. claude-opus-4-1"), chosen)
