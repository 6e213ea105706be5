"""What the hive reports: typed frozen dataclasses, and the hub that fans them out.

``ManagerEvent`` subclasses also go into the manager's inbox as ``system``
messages whose JSON body carries ``event`` (interfaces.md "Events").
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hivetui.core.kinds import ApprovalKind, ApprovalResult, MessageKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    event: ClassVar[str] = "event"
    ts: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["event"] = self.event
        return data


@dataclass(frozen=True)
class ManagerEvent(Event):
    """Delivered to the manager's inbox as a system message, and to operators."""


@dataclass(frozen=True)
class ContainerCrash(ManagerEvent):
    event: ClassVar[str] = "container_crash"
    agent: str
    exit_status: int | None
    last_log_lines: tuple[str, ...] = ()
    #: found when the core started: the container ended while no core watched it
    found_at_start: bool = False
    detail: str = ""


@dataclass(frozen=True)
class CrashLoop(ManagerEvent):
    event: ClassVar[str] = "crash_loop"
    agent: str
    count: int
    window_s: float


@dataclass(frozen=True)
class ApprovalResolved(ManagerEvent):
    event: ClassVar[str] = "approval_resolved"
    id: int
    kind: ApprovalKind
    result: ApprovalResult
    reason: str = ""
    commit: str = ""
    agent: str = ""


@dataclass(frozen=True)
class OperatorAnswer(ManagerEvent):
    event: ClassVar[str] = "operator_answer"
    question_id: int
    answer: str
    question: str = ""


@dataclass(frozen=True)
class AgentStarted(ManagerEvent):
    event: ClassVar[str] = "agent_started"
    agent: str


@dataclass(frozen=True)
class AgentStopped(ManagerEvent):
    event: ClassVar[str] = "agent_stopped"
    agent: str
    reason: str = ""


@dataclass(frozen=True)
class MessageDead(ManagerEvent):
    """A message was handed to harness.max_attempts turns that all failed: set aside."""

    event: ClassVar[str] = "message_dead"
    agent: str
    message_id: int
    attempts: int
    last_failure: str = ""
    sender: str = ""


@dataclass(frozen=True)
class BudgetExhausted(ManagerEvent):
    """The agent's API use today (UTC) reached its settings' ``budget_usd_per_day``: the
    credential broker refuses its requests until the day ends or the budget is raised."""

    event: ClassVar[str] = "budget_exhausted"
    agent: str
    spent: float
    budget: float


@dataclass(frozen=True)
class TurnFailed(Event):
    """An agent's turn failed; ``reason`` is the runtime's own words (e.g. the CLI's)."""

    event: ClassVar[str] = "turn_failed"
    agent: str
    reason: str
    messages: tuple[int, ...] = ()


# --- operator-facing events (the live stream; the recent ones for `ctl events`) ----------


@dataclass(frozen=True)
class MessageSent(Event):
    event: ClassVar[str] = "message"
    id: int
    sender: str
    recipient: str
    kind: MessageKind
    body: str
    depth: int  # recipient's inbox depth after this message


@dataclass(frozen=True)
class MessagesReceived(Event):
    event: ClassVar[str] = "received"
    agent: str
    count: int
    depth: int


@dataclass(frozen=True)
class AgentChanged(Event):
    """An agent was added, removed, or its record (state, model, flags) changed."""

    event: ClassVar[str] = "agent_changed"
    agent: str
    what: str = ""


@dataclass(frozen=True)
class StatusChanged(Event):
    event: ClassVar[str] = "status"
    agent: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class ApprovalRequested(Event):
    event: ClassVar[str] = "approval_requested"
    id: int
    kind: str
    agent: str
    commit: str = ""


@dataclass(frozen=True)
class QuestionAsked(Event):
    event: ClassVar[str] = "question_asked"
    id: int
    agent: str
    question: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress(Event):
    event: ClassVar[str] = "progress"
    agent: str
    operation: str
    step: str
    done: bool = False
    error: str = ""


@dataclass(frozen=True)
class Notification(Event):
    event: ClassVar[str] = "notification"
    level: str  # info | warning | error
    title: str
    text: str
    agent: str = ""


@dataclass(frozen=True)
class TelemetryUpdated(Event):
    event: ClassVar[str] = "telemetry"
    agent: str
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lagged(Event):
    """Sent to a subscriber that fell too far behind; it must re-read the state."""

    event: ClassVar[str] = "lagged"
    dropped: int


_ALL_EVENTS: list[type[Event]] = [
        ContainerCrash, CrashLoop, ApprovalResolved, OperatorAnswer, AgentStarted,
        AgentStopped, MessageDead, BudgetExhausted, TurnFailed, MessageSent, MessagesReceived,
        AgentChanged, StatusChanged,
        ApprovalRequested, QuestionAsked, Progress, Notification, TelemetryUpdated, Lagged,
]
EVENT_TYPES: dict[str, type[Event]] = {cls.event: cls for cls in _ALL_EVENTS}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event that crossed the control socket."""
    name = data.get("event")
    cls = EVENT_TYPES.get(str(name))
    if cls is None:
        raise ValueError(f"unknown event {name!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    for f in dataclasses.fields(cls):
        if f.name in kwargs and isinstance(kwargs[f.name], list):
            kwargs[f.name] = tuple(kwargs[f.name])
    return cls(**kwargs)


class Subscription:
    """One subscriber's bounded queue. Overflow is never silent: a ``Lagged`` follows."""

    def __init__(self, hub: EventHub, maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._dropped = 0

    def _offer(self, ev: Event) -> None:
        if self._dropped:
            self._dropped += 1
            return
        try:
            self._queue.put_nowait(ev)
        except asyncio.QueueFull:
            self._dropped = 1

    async def get(self) -> Event:
        if self._queue.empty() and self._dropped:
            dropped, self._dropped = self._dropped, 0
            return Lagged(dropped=dropped)
        return await self._queue.get()

    def close(self) -> None:
        self._hub._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        try:
            while True:
                yield await self.get()
        finally:
            self.close()


#: how many recent events the hub keeps for `ctl events` (memory: a few hundred KiB)
RECENT_EVENTS = 500
#: samples, not happenings: kept out of the recent events so they cannot crowd them out
UNRECORDED_EVENTS = frozenset({TelemetryUpdated.event, Lagged.event})


class EventHub:
    """Fan-out of events to live subscribers (TUIs, `ctl events --follow`, services),
    and the last RECENT_EVENTS of them (telemetry samples aside) for `ctl events`."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._recent: collections.deque[Event] = collections.deque(maxlen=RECENT_EVENTS)

    def publish(self, ev: Event) -> None:
        log.debug("event %s", ev.event)
        if ev.event not in UNRECORDED_EVENTS:
            self._recent.append(ev)
        for sub in list(self._subs):
            sub._offer(ev)

    def recent(self, limit: int) -> list[Event]:
        """The last ``limit`` events published (oldest first), telemetry samples aside."""
        return list(self._recent)[-limit:] if limit > 0 else []

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub
