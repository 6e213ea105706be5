"""Derived telemetry: per-turn series from ``report_turn`` and a periodic hive sampler.

Series written (key names are what `ctl stats` and the TUI charts read):
turns (1 per turn), turns_per_min, turn_duration_s, turn_duration_p50_s, turn_duration_p95_s,
tool_calls, tool:<name>, outcome_ok / outcome_compact_retry / outcome_failure, cost_usd,
sent_<kind>, received_<kind> (kind: peer/operator/manager/system), notes_bytes,
inbox_depth, inbox_depth_max (over the sampler window), since_last_turn_s,
and for the hive (agent "_hive"): approval_queue, question_queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping

from hivetui.core.bus import MessageBus
from hivetui.core.errors import TelemetryError
from hivetui.core.kinds import MESSAGE_KINDS, MessageKind, TurnOutcome
from hivetui.core.registry import Registry
from hivetui.core.telemetry import HIVE, Telemetry

log = logging.getLogger(__name__)

MAX_KEYS = 200


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Metrics:
    def __init__(self, telemetry: Telemetry, registry: Registry, bus: MessageBus,
                 queue_lengths: Callable[[], Awaitable[Mapping[str, int]]] | None = None,
                 window_s: float = 60.0) -> None:
        self._telemetry = telemetry
        self._registry = registry
        self._bus = bus
        self._queue_lengths = queue_lengths
        self._window_s = window_s
        self._turn_times: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=1000))
        self._durations: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=100))
        self._depth_max: dict[str, int] = defaultdict(int)

    async def record_turn(self, agent: str, outcome: TurnOutcome, duration_s: float,
                          tool_calls: Mapping[str, int], cost_usd: float,
                          sent: Mapping[MessageKind, int], received: Mapping[MessageKind, int],
                          notes_bytes: int, detail: str = "") -> None:
        if not 0 <= duration_s < 86400 * 7:
            raise TelemetryError(f"duration_s must be from 0 to a week, got {duration_s}")
        if len(tool_calls) > MAX_KEYS:
            raise TelemetryError(f"at most {MAX_KEYS} distinct tools per turn")
        for name, mapping in (("sent", sent), ("received", received)):
            bad = set(mapping) - set(MESSAGE_KINDS)
            if bad:
                raise TelemetryError(f"{name} keys must be among {', '.join(MESSAGE_KINDS)}; got "
                                     f"{sorted(bad)}")
        for counts in (tool_calls.values(), sent.values(), received.values()):
            if any(not isinstance(v, int) or v < 0 for v in counts):
                raise TelemetryError("counts must be non-negative integers")
        now = time.time()
        times = self._turn_times[agent]
        times.append(now)
        durations = self._durations[agent]
        durations.append(duration_s)
        per_min = sum(1 for t in times if t >= now - 60.0)
        values: dict[str, float] = {
            "turns": 1, "turns_per_min": per_min, "turn_duration_s": duration_s,
            "turn_duration_p50_s": percentile(list(durations), 0.5),
            "turn_duration_p95_s": percentile(list(durations), 0.95),
            "tool_calls": sum(tool_calls.values()), f"outcome_{outcome}": 1,
            "cost_usd": cost_usd, "notes_bytes": notes_bytes,
        }
        for tool, count in tool_calls.items():
            values[f"tool:{tool[:80]}"] = count
        for kind in MESSAGE_KINDS:
            values[f"sent_{kind}"] = sent.get(kind, 0)
            values[f"received_{kind}"] = received.get(kind, 0)
        self._telemetry.record(agent, values, now)
        if self._registry.find(agent) is not None:
            await self._registry.update(agent, what="turn", last_turn_at=now)
        if outcome == "failure":
            log.warning("agent %s: turn failed: %s", agent, detail)

    async def sample(self) -> None:
        """One sampler tick: inbox depth (now and max over the window), time since last turn."""
        now = time.time()
        for agent in self._registry.all():
            depth = self._bus.depth(agent.name)
            self._depth_max[agent.name] = max(self._depth_max[agent.name], depth)
            values: dict[str, float] = {"inbox_depth": depth,
                                        "inbox_depth_max": self._depth_max[agent.name]}
            if agent.last_turn_at is not None:
                values["since_last_turn_s"] = now - agent.last_turn_at
            times = self._turn_times.get(agent.name)
            values["turns_per_min"] = sum(1 for t in times or () if t >= now - 60.0)
            self._telemetry.record(agent.name, values, now)
        if self._queue_lengths is not None:
            self._telemetry.record(HIVE, dict(await self._queue_lengths()), now)

    async def run(self, interval_s: float = 10.0) -> None:
        ticks_per_window = max(1, int(self._window_s / interval_s))
        tick = 0
        while True:
            await self.sample()
            tick += 1
            if tick % ticks_per_window == 0:
                self._depth_max.clear()
            await asyncio.sleep(interval_s)
