"""Telemetry: ``(agent, ts, key, value)`` samples, batched writes, retention, queries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping

from hivetui.core.bounded import quoted
from hivetui.core.config import TelemetryConfig
from hivetui.core.errors import TelemetryError
from hivetui.core.events import EventHub, TelemetryUpdated
from hivetui.core.store import Store

log = logging.getLogger(__name__)

Sample = tuple[str, float, str, float]  # agent, ts, key, value
Series = dict[str, list[tuple[float, float]]]

HIVE = "_hive"  # the agent column for hive-wide series (approval queue length, ...)


class Telemetry:
    """Buffers samples and writes them in one transaction per flush."""

    def __init__(self, store: Store, hub: EventHub, config: TelemetryConfig,
                 flush_interval_s: float = 0.5) -> None:
        self._store = store
        self._hub = hub
        self.config = config
        self._buffer: list[Sample] = []
        self._flush_interval_s = flush_interval_s
        self._lock = asyncio.Lock()

    def record(self, agent: str, values: Mapping[str, float], ts: float | None = None) -> None:
        """Queue samples; they are durable after the next ``flush``."""
        when = time.time() if ts is None else ts
        for key, value in values.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
                raise TelemetryError(f"telemetry value for {quoted(key)} must be a finite number")
            self._buffer.append((agent, when, key, float(value)))

    def record_many(self, samples: Iterable[Sample]) -> None:
        self._buffer.extend(samples)

    async def flush(self) -> int:
        async with self._lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            await self._store.executemany(
                "INSERT INTO telemetry (agent, ts, key, value) VALUES (?,?,?,?)", batch
            )
        by_agent: dict[str, set[str]] = defaultdict(set)
        for agent, _, key, _ in batch:
            by_agent[agent].add(key)
        for agent, keys in by_agent.items():
            self._hub.publish(TelemetryUpdated(agent=agent, keys=tuple(sorted(keys))))
        return len(batch)

    async def run(self) -> None:
        """Service: flush periodically, apply retention hourly."""
        last_retention = 0.0
        while True:
            await asyncio.sleep(self._flush_interval_s)
            await self.flush()
            if time.monotonic() - last_retention > 3600:
                last_retention = time.monotonic()
                await self.apply_retention()

    async def query(self, agent: str, since_s: float = 86400.0,
                    keys: Iterable[str] | None = None, now: float | None = None,
                    max_points: int | None = None) -> Series:
        """Series for ``agent`` over the last ``since_s`` seconds, by key, oldest first.

        With ``max_points`` each series is averaged into at most that many time buckets,
        so a chart of a busy day costs the same as a chart of a quiet hour.
        """
        t0 = (time.time() if now is None else now) - since_s
        key_list = list(keys or [])
        cond = "agent = ? AND ts >= ?"
        params: list[object] = [agent, t0]
        if key_list:
            cond += f" AND key IN ({','.join('?' * len(key_list))})"
            params += key_list
        if max_points:
            bucket = max(since_s / max_points, 1e-3)
            sql = (f"SELECT key, AVG(ts), AVG(value) FROM telemetry WHERE {cond} "
                   "GROUP BY key, CAST((ts - ?) / ? AS INTEGER) ORDER BY key, 2")
            rows = await self._store.fetchall(sql, (*params, t0, bucket))
        else:
            rows = await self._store.fetchall(
                f"SELECT key, ts, value FROM telemetry WHERE {cond} ORDER BY key, ts", params)
        out: Series = defaultdict(list)
        for key, ts, value in rows:
            out[key].append((ts, value))
        return dict(out)

    async def apply_retention(self, now: float | None = None) -> None:
        """Downsample raw samples older than raw_retention_s into bucket averages; drop old."""
        now = time.time() if now is None else now
        bucket = self.config.downsample_bucket_s
        # whole buckets only: a bucket is either all raw or all one average, so a second
        # pass finds nothing to do (idempotent) and no average lands among raw samples
        cut = (now - self.config.raw_retention_s) // bucket * bucket
        async with self._store.transaction() as db:
            oldest = (now - self.config.retention_s) // bucket * bucket
            await db.execute("DELETE FROM telemetry WHERE ts < ?", (oldest,))
            await db.execute("CREATE TEMP TABLE IF NOT EXISTS tdown (agent, ts, key, value)")
            await db.execute("DELETE FROM tdown")
            await db.execute(
                "INSERT INTO tdown SELECT agent, CAST(ts / ? AS INTEGER) * ? + ? / 2, key, "
                "AVG(value) FROM telemetry WHERE ts < ? GROUP BY agent, key, "
                "CAST(ts / ? AS INTEGER) HAVING COUNT(*) > 1",
                (bucket, bucket, bucket, cut, bucket),
            )
            await db.execute(
                "DELETE FROM telemetry WHERE ts < ? AND EXISTS (SELECT 1 FROM tdown d WHERE "
                "d.agent = telemetry.agent AND d.key = telemetry.key AND "
                "CAST(d.ts / ? AS INTEGER) = CAST(telemetry.ts / ? AS INTEGER))",
                (cut, bucket, bucket),
            )
            await db.execute("INSERT INTO telemetry SELECT agent, ts, key, value FROM tdown")
        log.info("telemetry retention applied (raw cut %.0f)", cut)
