"""Telemetry: batched writes, downsampled queries, retention that keeps a month small."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from hivetui.control.server import ControlServer
from hivetui.core.config import HiveConfig
from hivetui.core.hive import Hive


async def test_retention_downsamples_old_samples_and_drops_ancient(tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.telemetry.raw_retention_s = 2 * 86400
    cfg.telemetry.downsample_bucket_s = 3600
    cfg.telemetry.retention_s = 30 * 86400
    async with Hive(tmp_path, cfg) as hive:
        now = time.time()
        # 40 days of one sample a minute for 2 keys of one agent: 115,200 raw samples
        samples = [("a", now - i * 60.0, k, float(i % 7)) for i in range(40 * 1440)
                   for k in ("turns_per_min", "inbox_depth")]
        hive.telemetry.record_many(samples)
        await hive.telemetry.flush()
        await hive.telemetry.apply_retention(now=now)
        count_sql = "SELECT COUNT(*) FROM telemetry WHERE agent = 'a'"
        (count,) = await hive.store.fetchone(count_sql) or (0,)
        # 2 days raw (2 x 2880, plus up to an hour: the cut is a bucket boundary)
        # + 28 days hourly (2 x 672), give or take the edges
        assert 5760 + 1300 <= count <= 5760 + 120 + 1400, count
        recent = await hive.telemetry.query("a", 3600, ["inbox_depth"], now=now)
        assert len(recent["inbox_depth"]) == 61  # raw, untouched
        old = await hive.telemetry.query("a", 10 * 86400, ["inbox_depth"], now=now - 5 * 86400)
        before = [(t, v) for t, v in old["inbox_depth"] if t <= now - 5 * 86400]
        assert 230 <= len(before) <= 250  # ten days of hourly averages
        values = [v for _, v in before]
        assert all(0 <= v <= 6 for v in values) and any(0 < v < 6 for v in values)
        (oldest,) = await hive.store.fetchone("SELECT MIN(ts) FROM telemetry") or (0,)
        assert oldest >= now - 30 * 86400 - 3600
        # applying it again changes nothing (idempotent)
        await hive.telemetry.apply_retention(now=now)
        (again,) = await hive.store.fetchone(count_sql) or (0,)
        assert again == count


async def test_downsampled_query_keeps_the_shape(hive: Hive) -> None:
    now = time.time()
    hive.telemetry.record_many([("a", now - i, "x", float(i)) for i in range(3600)])
    await hive.telemetry.flush()
    series = await hive.telemetry.query("a", 3600, ["x"], max_points=60)
    assert 59 <= len(series["x"]) <= 61
    assert series["x"][0][1] > series["x"][-1][1]  # time order kept: oldest (largest i) first


async def test_ctl_stats_reads_turn_series(hive: Hive) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    await hive.metrics.record_turn("alice", "ok", 2.0, {"Read": 3}, 0.01, {"peer": 1},
                                   {"operator": 1}, 120)
    await hive.metrics.record_turn("alice", "failure", 4.0, {}, 0.0, {}, {}, 130)
    server = ControlServer(hive)
    hive.add_service("control", server.run)
    await server.ready()
    out = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(hive.paths.root), "stats",
        "alice", "--key", "turn_duration_s", "--key", "outcome_failure", "--key", "tool:Read",
        "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    series = json.loads(out.stdout)
    assert [v for _, v in series["turn_duration_s"]] == [2.0, 4.0]
    assert [v for _, v in series["outcome_failure"]] == [1.0]
    assert [v for _, v in series["tool:Read"]] == [3.0]
    bad = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(hive.paths.root), "stats",
        "nobody"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "no agent named 'nobody'" in bad.stderr
