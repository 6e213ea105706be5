"""What the operator queue screens (approvals, questions, kept) share.

Each talks only to :class:`hivetui.core.api.HiveAPI`, runs its calls through
:class:`~hivetui.tui.widgets.approvals.calls.ApiCalls` (a ``HiveError`` becomes a toast) and
follows the hive live, two ways:

* the app posts :class:`~hivetui.tui.widgets.approvals.live.LiveEvent` for each event of
  ``api.events()``; an event of the screen's :attr:`QueueScreen.LIVE_EVENTS` re-reads it
  (any other is ignored);
* or, built with ``subscribe=True``, the screen reads ``api.events()`` itself.

A screen gives :attr:`~QueueScreen.LIVE_EVENTS`, :meth:`~QueueScreen.reread`,
:attr:`~QueueScreen.main_list` and the actions a read-only operator may not take
(``READ_ONLY_REFUSED``), and ends its ``BINDINGS`` with :func:`queue_bindings`.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from hivetui.core.ages import SYSTEM_CLOCK, Clock
from hivetui.core.api import HiveAPI
from hivetui.core.events import Event
from hivetui.tui.screens.follows import TakesQueueEvents
from hivetui.tui.screens.read_only import GuardedScreen
from hivetui.tui.widgets.approvals.calls import ApiCalls
from hivetui.tui.widgets.approvals.live import LiveEvent
from hivetui.tui.workers import ReportsWorkerErrors


def queue_bindings(next_label: str, previous_label: str) -> list[BindingType]:
    """``j``/``k`` move, ``R`` re-reads, ``escape`` goes back: the tail of every queue's keys."""
    return [
        Binding("j", "cursor_down", next_label, show=False),
        Binding("k", "cursor_up", previous_label, show=False),
        Binding("R", "refresh", "Re-read", show=False),
        Binding("escape", "back", "Back"),
    ]


class QueueScreen(ReportsWorkerErrors, GuardedScreen, TakesQueueEvents):
    """A screen listing what waits for the operator, re-read on the events that change it.

    Its mutating keys (:attr:`READ_ONLY_REFUSED`) are disabled in a read-only session, and
    say why when pressed (:class:`~hivetui.tui.screens.read_only.GuardedScreen`).
    """

    LIVE_EVENTS: ClassVar[tuple[type[Event], ...]] = ()
    """Events that re-read the screen."""
    AGE_TICK_S: ClassVar[float | None] = None
    """Seconds between :meth:`_tick` calls (None: no ages shown, no timer)."""

    def __init__(self, api: HiveAPI, *, clock: Clock = SYSTEM_CLOCK,
                 subscribe: bool = False) -> None:
        super().__init__()
        self.api = api
        self.calls = ApiCalls(self)
        self._clock = clock
        self._subscribe = subscribe

    @property
    def hive_api(self) -> HiveAPI:
        return self.api

    # --- what a screen says -----------------------------------------------------------
    @property
    def main_list(self) -> DataTable[str | Text]:
        """The list that has focus when the screen opens."""
        raise NotImplementedError

    async def reread(self) -> None:
        """Re-read what the screen shows from the API."""
        raise NotImplementedError

    def _tick(self) -> None:
        """Every :attr:`AGE_TICK_S` seconds: refresh the ages shown."""

    def _step_back(self) -> bool:
        """``escape`` inside the screen (restore, refocus); False when there is nothing to undo."""
        return False

    def _cursor_list(self) -> DataTable[str | Text]:
        """The list ``j``/``k`` move in."""
        return self.main_list

    # --- shared -----------------------------------------------------------------------
    async def on_mount(self) -> None:
        self.main_list.focus()
        await self.reread()
        if self.AGE_TICK_S is not None:
            self.set_interval(self.AGE_TICK_S, self._tick)
        if self._subscribe:
            self._follow_events()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A read-only session sees a queue's refused keys dimmed, not hidden: hidden, the
        app's key of the same letter would show instead (``a`` opening the approvals where
        ``a`` approves)."""
        allowed = super().check_action(action, parameters)
        return None if allowed is False else allowed

    def _show_title(self, selector: str, text: str) -> None:
        if self.api.read_only:
            text += " · read-only operator"
        self.query_one(selector, Static).update(text)

    @work(exclusive=True, group="live-events", exit_on_error=False)
    async def _follow_events(self) -> None:
        async for event in self.api.events():
            self.post_message(LiveEvent(event))

    @on(LiveEvent)
    async def _live_event(self, message: LiveEvent) -> None:
        await self.handle_event(message.event)

    async def handle_event(self, event: Event) -> None:
        """React to one live event (the app may call this instead of posting LiveEvent)."""
        if isinstance(event, self.LIVE_EVENTS):
            await self.reread()

    def action_cursor_down(self) -> None:
        self._cursor_list().action_cursor_down()

    def action_cursor_up(self) -> None:
        self._cursor_list().action_cursor_up()

    async def action_refresh(self) -> None:
        await self.reread()

    def action_back(self) -> None:
        if not self._step_back() and len(self.app.screen_stack) > 1 and self.app.screen is self:
            self.dismiss()
