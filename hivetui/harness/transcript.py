"""The harness's side of turn transcripts: events out to the core, never in a turn's way.

:meth:`TranscriptStream.emit` only appends to a bounded queue and wakes the sender; it
never awaits. The sender task takes what is queued, in batches of one turn's events,
and calls the bridge's ``transcript`` tool. When the queue is full (the core or the
bridge is slow, or gone), new events are dropped and counted; the next event of that turn
that finds room is preceded by a ``dropped`` event with the count, so the loss shows in
the transcript. A turn's ``prompt`` and ``end`` always get in (the queue may hold a few
past its size for them), so every turn has its header and its cost. A batch the bridge
refused or never got is counted as dropped the same way. The sender lingers ``LINGER_S``
after an event for the ones that follow, so a busy turn costs the core a few calls a second.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from hivetui.core.errors import HarnessError
from hivetui.core.transcript_format import MAX_BATCH

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]
QUEUE_EVENTS = 2000
#: after the first event, wait this long for more before sending: a busy turn's events go
#: in a few calls a second instead of one each (each call costs the core a request)
LINGER_S = 0.25
ALWAYS_KEPT = ("prompt", "end")


def no_emit(event: dict[str, Any]) -> None:
    """The emitter of a turn whose transcript goes nowhere (tests, notes compaction)."""


class TranscriptSink(Protocol):
    async def transcript(self, turn_key: str, events: list[dict[str, Any]]) -> None: ...


class TranscriptStream:
    """One per harness process; ``emitter(turn_no)`` gives a turn its ``emit``."""

    def __init__(self, sink: TranscriptSink, capacity: int = QUEUE_EVENTS,
                 linger_s: float = LINGER_S) -> None:
        self._sink = sink
        self.capacity = capacity
        self.linger_s = linger_s
        self._boot = uuid.uuid4().hex[:12]  # turn keys of two harness runs never meet
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._dropped: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._in_flight = 0  # events of the call under way
        self.sent = 0
        self.dropped_total = 0

    def turn_key(self, turn_no: int) -> str:
        return f"{self._boot}:{turn_no}"

    def emitter(self, turn_no: int) -> Emit:
        key = self.turn_key(turn_no)
        return lambda event: self.emit(key, event)

    def emit(self, key: str, event: dict[str, Any]) -> None:
        """Queue ``event`` of turn ``key``, or count it dropped; never waits."""
        full = len(self._queue) >= self.capacity
        if full and (event.get("kind") not in ALWAYS_KEPT or len(self._queue) >= 2 * self.capacity):
            self._dropped[key] = self._dropped.get(key, 0) + 1
            self.dropped_total += 1
            return
        lost = self._dropped.pop(key, 0)
        if lost:
            self._queue.append((key, {"kind": "dropped", "ts": event.get("ts", 0.0),
                                      "count": lost}))
        self._queue.append((key, event))
        self._wake.set()

    @property
    def queued(self) -> int:
        """Events not yet delivered: waiting, or in the call under way."""
        return len(self._queue) + self._in_flight

    def _batch(self) -> tuple[str, list[dict[str, Any]]]:
        key = self._queue[0][0]
        events: list[dict[str, Any]] = []
        while self._queue and self._queue[0][0] == key and len(events) < MAX_BATCH:
            events.append(self._queue.popleft()[1])
        return key, events

    async def run(self) -> None:
        """Send until cancelled (then what is queued is given up: the harness is leaving)."""
        while True:
            await self._wake.wait()
            if len(self._queue) < MAX_BATCH:
                await asyncio.sleep(self.linger_s)
            self._wake.clear()
            while self._queue:
                key, events = self._batch()
                self._in_flight = len(events)
                try:
                    await self._sink.transcript(key, events)
                    self.sent += len(events)
                except HarnessError as exc:  # BridgeUnreachable too: the turn goes on
                    log.warning("transcript: %d event(s) lost: %s", len(events), exc)
                    self._dropped[key] = self._dropped.get(key, 0) + len(events)
                    self.dropped_total += len(events)
                finally:
                    self._in_flight = 0

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) for the queue to empty: a one-shot run's last turn."""
        async with asyncio.timeout(timeout_s):
            while self._queue or self._in_flight:
                await asyncio.sleep(0.01)
