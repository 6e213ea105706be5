"""bench/telemetry.py — telemetry ingest beside raw sqlite3.executemany, and a 24 h query.

Ingest: the same samples written (a) through hivetui's Telemetry (record + flush, one
transaction per batch, through the store's aiosqlite connection) and (b) with a plain
``sqlite3.executemany`` per batch on the same schema in a second file. The query reads all
series of one agent over 24 h (downsampled for a chart) from a database holding a day of
a whole hive: one turn a minute (per-turn series) plus the 10 s sampler, per agent.
Last line: JSON with samples_per_s, raw_sqlite_samples_per_s, ratio, query_24h_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from hivetui.core.config import TelemetryConfig
from hivetui.core.events import EventHub
from hivetui.core.store import MIGRATIONS, Store
from hivetui.core.telemetry import Telemetry

TURN_KEYS = ["turns", "turns_per_min", "turn_duration_s", "turn_duration_p50_s",
             "turn_duration_p95_s", "tool_calls", "outcome_ok", "cost_usd", "notes_bytes",
             "tool:Read", "tool:Edit", "tool:Bash", "tool:mcp__hive__send",
             "sent_peer", "sent_operator", "sent_manager", "sent_system",
             "received_peer", "received_operator", "received_manager", "received_system"]
SAMPLER_KEYS = ["inbox_depth", "inbox_depth_max", "since_last_turn_s", "turns_per_min"]


def day_of_samples(agent: str, t_end: float, hours: float) -> list[tuple[str, float, str, float]]:
    rnd = random.Random(agent)
    out = []
    start = t_end - hours * 3600
    t = start
    while t < t_end:
        for k in TURN_KEYS:
            out.append((agent, t, k, rnd.random() * 10))
        t += 60
    t = start
    while t < t_end:
        for k in SAMPLER_KEYS:
            out.append((agent, t, k, rnd.random() * 5))
        t += 10
    return out


def batches(samples: list[tuple[str, float, str, float]], size: int
            ) -> list[list[tuple[str, float, str, float]]]:
    return [samples[i:i + size] for i in range(0, len(samples), size)]


def raw_ingest(path: Path, all_batches: list[list[tuple[str, float, str, float]]]) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            db.execute(statement)
    t0 = time.perf_counter()
    for batch in all_batches:
        db.execute("BEGIN")
        db.executemany("INSERT INTO telemetry (agent, ts, key, value) VALUES (?,?,?,?)", batch)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    db.close()
    return elapsed


async def hive_ingest(path: Path, all_batches: list[list[tuple[str, float, str, float]]]
                      ) -> tuple[float, float]:
    async with Store(path) as store:
        tel = Telemetry(store, EventHub(), TelemetryConfig())
        t0 = time.perf_counter()
        for batch in all_batches:
            tel.record_many(batch)
            await tel.flush()
        elapsed = time.perf_counter() - t0
        # the 24 h chart query for one agent, all series, 300 points each
        now = max(s[1] for s in all_batches[-1]) + 1
        times = []
        for _ in range(15):
            q0 = time.perf_counter()
            series = await tel.query("a0", 86400, now=now, max_points=300)
            times.append((time.perf_counter() - q0) * 1000)
        assert len(series) == len(set(TURN_KEYS + SAMPLER_KEYS)), sorted(series)
        assert all(len(v) <= 301 for v in series.values())
    return elapsed, statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--agents", type=int, default=None)
    args = ap.parse_args()
    agents = args.agents or (10 if args.quick else 50)
    now = time.time()
    samples: list[tuple[str, float, str, float]] = []
    for i in range(agents):
        samples += day_of_samples(f"a{i}", now, 24)
    samples.sort(key=lambda s: s[1])  # arrive in time order, interleaved across agents
    all_batches = batches(samples, 2000)
    tmp = Path(tempfile.mkdtemp(prefix="hivetui-bench-tel-"))
    raw_s = raw_ingest(tmp / "raw.sqlite3", all_batches)
    ours_s, query_ms = asyncio.run(hive_ingest(tmp / "hive.sqlite3", all_batches))
    n = len(samples)
    result = {"bench": "telemetry", "agents": agents, "samples": n,
              "samples_per_s": round(n / ours_s), "raw_sqlite_samples_per_s": round(n / raw_s),
              "ratio": round(raw_s / ours_s, 3), "query_24h_ms": round(query_ms, 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
