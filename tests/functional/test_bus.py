"""The durable bus on a real sqlite file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest

from hivetui.core.config import HiveConfig
from hivetui.core.errors import BackpressureError, BusError, NotFoundError
from hivetui.core.events import ContainerCrash
from hivetui.core.hive import Hive
from hivetui.core.store import SCHEMA_VERSION


async def _two(hive: Hive) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    await hive.registry.create("bob", runtime="scripted:echo", model="m")


async def test_send_then_recv_in_order_with_kinds(hive: Hive) -> None:
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    await _two(hive)
    await hive.bus.send("alice", "bob", "one")
    await hive.bus.send("operator", "bob", "two")
    await hive.bus.send("boss", "bob", "three")
    await hive.bus.send("system", "bob", "four")
    assert hive.bus.depth("bob") == 4
    got = await hive.bus.recv("bob", 0, 10)
    assert [(m.body, m.kind) for m in got] == [
        ("one", "peer"), ("two", "operator"), ("three", "manager"), ("four", "system")]
    assert hive.bus.depth("bob") == 0
    assert await hive.bus.recv("bob", 0, 10) == []


async def test_long_poll_wakes_within_milliseconds(hive: Hive) -> None:
    await _two(hive)
    waiter = asyncio.create_task(hive.bus.recv("bob", 10, 5))
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    await hive.bus.send("alice", "bob", "wake up")
    got = await waiter
    elapsed = time.perf_counter() - t0
    assert [m.body for m in got] == ["wake up"]
    assert elapsed < 0.05, f"long-poll woke after {elapsed * 1000:.1f} ms"


async def test_long_poll_times_out_empty(hive: Hive) -> None:
    await _two(hive)
    t0 = time.perf_counter()
    assert await hive.bus.recv("bob", 0.2, 5) == []
    assert 0.18 <= time.perf_counter() - t0 < 1.0


async def test_limits_refuse_clearly(tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.bus.max_body_bytes = 100
    cfg.bus.max_inbox_depth = 3
    async with Hive(tmp_path, cfg) as hive:
        await _two(hive)
        with pytest.raises(BusError, match=r"101 bytes; the limit is 100 bytes"):
            await hive.bus.send("alice", "bob", "x" * 101)
        for i in range(3):
            await hive.bus.send("alice", "bob", f"m{i}")
        with pytest.raises(BackpressureError, match=r"inbox of 'bob' is full \(3 unread, limit 3"):
            await hive.bus.send("alice", "bob", "overflow")
        # concurrent senders cannot overshoot the limit either
        await hive.bus.recv("bob", 0, 3)
        results = await asyncio.gather(
            *[hive.bus.send("alice", "bob", f"c{i}") for i in range(10)], return_exceptions=True)
        assert sum(not isinstance(r, Exception) for r in results) == 3
        assert all(isinstance(r, BackpressureError) for r in results if isinstance(r, Exception))
        assert hive.bus.depth("bob") == 3
        with pytest.raises(NotFoundError, match="unknown recipient 'carol'"):
            await hive.bus.send("alice", "carol", "hi")
        with pytest.raises(BusError, match="empty"):
            await hive.bus.send("alice", "bob", "   ")
        with pytest.raises(BusError, match="max must be an integer"):
            await hive.bus.recv("bob", 0, 0)


async def test_messages_survive_reopen(tmp_path: Path) -> None:
    async with Hive(tmp_path) as hive:
        await _two(hive)
        for i in range(5):
            await hive.bus.send("alice", "bob", f"m{i}")
        await hive.bus.recv("bob", 0, 2)
    async with Hive(tmp_path) as hive:
        assert hive.bus.depth("bob") == 3
        assert [m.body for m in await hive.bus.recv("bob", 0, 10)] == ["m2", "m3", "m4"]
        assert len(await hive.bus.history("bob")) == 5


async def test_manager_gets_events_as_system_json(hive: Hive) -> None:
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    await hive.notify_manager(ContainerCrash(agent="w", exit_status=3, last_log_lines=("x",)))
    (msg,) = await hive.bus.recv("boss", 0, 5)
    assert msg.kind == "system" and msg.sender == "system"
    body = json.loads(msg.body)
    assert body["event"] == "container_crash" and body["agent"] == "w"
    assert body["exit_status"] == 3 and body["last_log_lines"] == ["x"]


async def test_store_schema_and_wal(hive: Hive) -> None:
    row = await hive.store.fetchone("PRAGMA journal_mode")
    assert row == ("wal",)
    tables = {r[0] for r in await hive.store.fetchall(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"agents", "messages", "approvals", "questions", "telemetry", "audit"} <= tables
    assert (await hive.store.fetchone("PRAGMA user_version")) == (SCHEMA_VERSION,)


async def test_recv_with_ack_is_at_least_once(hive: Hive) -> None:
    await _two(hive)
    ids = [(await hive.bus.send("alice", "bob", f"m{i}")).id for i in range(3)]
    first = await hive.bus.recv("bob", 0, 2, ack=0)
    assert [m.body for m in first] == ["m0", "m1"]
    assert hive.bus.depth("bob") == 3  # leased, not yet handled
    # the caller died mid-turn: asking again with the same ack gets them again
    again = await hive.bus.recv("bob", 0, 10, ack=0)
    assert [m.body for m in again] == ["m0", "m1", "m2"]
    # a plain recv (a tool call inside the turn) never takes what is under lease
    assert await hive.bus.recv("bob", 0, 10) == []
    # handled up to m1: those are delivered, m2 comes next
    nxt = await hive.bus.recv("bob", 0, 10, ack=ids[1])
    assert [m.body for m in nxt] == ["m2"] and hive.bus.depth("bob") == 1
    assert await hive.bus.recv("bob", 0, 10, ack=ids[2]) == []
    assert hive.bus.depth("bob") == 0
    with pytest.raises(BusError, match="ack must be a message id >= 0"):
        await hive.bus.recv("bob", 0, 1, ack=-1)
    # the lease survives nothing but the core: after a reopen the message is still there
    m3 = await hive.bus.send("alice", "bob", "m3")
    assert [m.id for m in await hive.bus.recv("bob", 0, 5, ack=ids[2])] == [m3.id]


async def test_a_gone_caller_ends_its_wait_taking_nothing(hive: Hive) -> None:
    await _two(hive)
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiter = asyncio.create_task(hive.bus.recv("bob", 30, 5, gone=gone))
    other = asyncio.create_task(hive.bus.recv("bob", 30, 5))  # a second, live poll
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    gone.set_result(None)
    assert await asyncio.wait_for(waiter, 1) == []
    assert time.perf_counter() - t0 < 0.2
    await hive.bus.send("alice", "bob", "for the live poll")
    got = await asyncio.wait_for(other, 1)
    assert [m.body for m in got] == ["for the live poll"]
    # a caller already gone takes nothing even with mail waiting
    await hive.bus.send("alice", "bob", "stays")
    assert await hive.bus.recv("bob", 5, 5, gone=gone) == []
    assert hive.bus.depth("bob") == 1


async def test_take_is_one_committed_statement_in_id_order(hive: Hive) -> None:
    await _two(hive)
    for i in range(7):
        await hive.bus.send("alice", "bob", f"m{i}")
    got = await hive.bus.recv("bob", 0, 4)
    assert [m.body for m in got] == ["m0", "m1", "m2", "m3"]
    assert all(m.delivered_at is not None for m in got)
    # committed at once: another connection to the same file sees the delivery marks
    with sqlite3.connect(hive.store.path) as other:
        undelivered = other.execute(
            "SELECT body FROM messages WHERE recipient='bob' AND delivered_at IS NULL "
            "ORDER BY id").fetchall()
    assert [r[0] for r in undelivered] == ["m4", "m5", "m6"]
    assert [m.body for m in await hive.bus.recv("bob", 0, 10)] == ["m4", "m5", "m6"]


async def test_a_busy_inbox_takes_a_stream_in_batches_an_idle_one_at_once(hive: Hive) -> None:
    await _two(hive)
    # idle inbox (never read): the long-poll returns the moment the first message lands
    first = asyncio.create_task(hive.bus.recv("bob", 10, 10))
    await asyncio.sleep(0.02)
    await hive.bus.send("alice", "bob", "one")
    sender = asyncio.create_task(_trickle(hive, ["two", "three"], 0.003))
    assert [m.body for m in await first] == ["one"]
    await sender
    assert [m.body for m in await hive.bus.recv("bob", 0, 10)] == ["two", "three"]
    # now busy (read just now): a woken long-poll lingers (bus.recv_linger_ms, 10 ms by
    # default) and takes what arrives meanwhile in the same receive
    poll = asyncio.create_task(hive.bus.recv("bob", 10, 10))
    await asyncio.sleep(0.01)
    await _trickle(hive, ["four", "five", "six"], 0.002)
    assert [m.body for m in await poll] == ["four", "five", "six"]
    # a full batch (max) does not wait out the linger
    poll = asyncio.create_task(hive.bus.recv("bob", 10, 2))
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await _trickle(hive, ["seven", "eight"], 0)
    assert [m.body for m in await poll] == ["seven", "eight"]
    assert time.perf_counter() - t0 < hive.config.bus.recv_linger_ms / 1000


async def _trickle(hive: Hive, bodies: list[str], gap_s: float) -> None:
    for body in bodies:
        await hive.bus.send("alice", "bob", body)
        await asyncio.sleep(gap_s)


async def test_linger_off_returns_each_wake_at_once(tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.bus.recv_linger_ms = 0
    async with Hive(tmp_path / "s", cfg) as hive:
        await _two(hive)
        await hive.bus.send("alice", "bob", "zero")
        await hive.bus.recv("bob", 0, 10)  # busy now
        poll = asyncio.create_task(hive.bus.recv("bob", 10, 10))
        await asyncio.sleep(0.01)
        await _trickle(hive, ["one", "two"], 0.005)
        assert [m.body for m in await poll] == ["one"]
