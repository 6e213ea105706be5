"""The event pump: the live stream in, coalesced refreshes out (at most ~10 per second).

:meth:`EventPump.follow` reads ``api.events()`` and only notes what each event touched
(cheap, never awaits the API); :meth:`EventPump.refresh` wakes when something is noted,
waits until ``interval`` has passed since the last refresh, re-reads just that from the
API and hands the :class:`~hivetui.tui.state.Changes` to ``deliver``. With no events
nothing runs at all. Alerts (approval requested, question, crash, crash loop,
notification) go to ``alert`` at once; approval and question events go to ``forward`` at
once too (the queue screens re-read their lists on them). The app runs the two as
workers of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hivetui.core.api import HiveAPI
from hivetui.core.events import (
    AgentChanged,
    AgentStarted,
    AgentStopped,
    ApprovalRequested,
    ApprovalResolved,
    ContainerCrash,
    CrashLoop,
    Event,
    Lagged,
    MessageDead,
    MessageSent,
    MessagesReceived,
    Notification,
    OperatorAnswer,
    Progress,
    QuestionAsked,
    StatusChanged,
    TelemetryUpdated,
)
from hivetui.core.names import OPERATOR, SYSTEM
from hivetui.tui.state import Changes, HiveState, Pending

log = logging.getLogger(__name__)

ALERTS = (ApprovalRequested, QuestionAsked, ContainerCrash, CrashLoop, Notification)
_AGENT_EVENTS = (AgentChanged, StatusChanged, AgentStarted, AgentStopped, Progress, MessageDead,
                 ContainerCrash, CrashLoop, MessagesReceived)
_COUNT_EVENTS = (ApprovalRequested, ApprovalResolved, QuestionAsked, OperatorAnswer)
#: events passed on as they come to the queue screens (rare; they re-read their lists)
FORWARDED = (*_COUNT_EVENTS, Lagged)


class EventPump:
    def __init__(self, api: HiveAPI, state: HiveState, deliver: Callable[[Changes], None],
                 alert: Callable[[Event], None], on_error: Callable[[BaseException], None],
                 interval: float = 0.1, forward: Callable[[Event], None] | None = None
                 ) -> None:
        self._api = api
        self._state = state
        self._deliver = deliver
        self._alert = alert
        self._on_error = on_error
        self._forward = forward
        self.interval = interval
        self.retry_s = 2.0
        self._pending = Pending()
        self._wake = asyncio.Event()
        self._last = 0.0
        self.events_seen = 0
        self._refreshing = False
        self.refreshes = 0

    def absorb(self, ev: Event) -> None:
        """Note what ``ev`` touched; the next refresh re-reads it."""
        self.events_seen += 1
        pending = self._pending
        if isinstance(ev, MessageSent):
            for name in (ev.recipient, ev.sender):
                if name not in (OPERATOR, SYSTEM):
                    pending.agents.add(name)
            pending.messages.append(ev)
        elif isinstance(ev, _AGENT_EVENTS):
            pending.agents.add(ev.agent)
        elif isinstance(ev, TelemetryUpdated):
            if ev.agent in self._state.agents:
                pending.telemetry.add(ev.agent)
        elif isinstance(ev, Lagged):
            log.warning("event stream lagged (%d dropped): re-reading everything", ev.dropped)
            pending.full = True
            pending.counts = True
        if isinstance(ev, _COUNT_EVENTS):
            pending.counts = True
        if isinstance(ev, FORWARDED) and self._forward is not None:
            self._forward(ev)
        if isinstance(ev, ALERTS):
            self._alert(ev)
        if pending:
            self._wake.set()

    async def follow(self) -> None:
        """Note every event of the stream until it ends."""
        async for ev in self._api.events():
            self.absorb(ev)

    @property
    def busy(self) -> bool:
        """Events noted but not yet refreshed, or a refresh under way."""
        return self._wake.is_set() or self._refreshing

    def request_full(self) -> None:
        self._pending.full = True
        self._pending.counts = True
        self._wake.set()

    async def refresh(self) -> None:
        """Refresh what was noted, paced, for ever (until cancelled)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            delay = self._last + self.interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._wake.clear()
            batch, self._pending = self._pending, Pending()
            self._refreshing = True
            try:
                changes = await self._state.apply(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # shown as a toast by on_error; the pump goes on
                log.exception("refresh after events failed")
                self._on_error(exc)
                self._pending.full = self._pending.counts = True
                await asyncio.sleep(self.retry_s)
                self._wake.set()
                continue
            finally:
                self._refreshing = False
            self._last = loop.time()
            self.refreshes += 1
            self._deliver(changes)
