"""crash_watch against FakeMemoryBackend (the real local backend has its own e2e test)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hivetui.core.config import HiveConfig
from hivetui.core.crash_watch import CrashWatch
from hivetui.core.hive import Hive
from tests.fakes.memory_backend import FakeMemoryBackend


async def _events(hive: Hive, manager: str = "boss") -> list[dict[str, object]]:
    return [json.loads(m.body) for m in await hive.bus.recv(manager, 0, 100)
            if m.kind == "system"]


async def _crash_events(hive: Hive) -> list[dict[str, object]]:
    return [e for e in await _events(hive) if e["event"] in ("container_crash", "crash_loop")]


async def _setup(tmp_path: Path, event_driven: bool = True, interval: float = 0.05,
                 ) -> tuple[Hive, FakeMemoryBackend, CrashWatch]:
    cfg = HiveConfig()
    cfg.crash_watch.interval_s = interval
    backend = FakeMemoryBackend(event_driven=event_driven)
    hive = Hive(tmp_path, cfg, backend)
    await hive.__aenter__()
    assert hive.lifecycle is not None
    await hive.lifecycle.spawn("boss", runtime="scripted:manager", model="m", role="manager")
    await hive.lifecycle.spawn("w1", runtime="scripted:echo", model="m")
    watch = CrashWatch(hive, backend)
    hive.add_service("crash_watch", watch.run)
    await watch.seeded.wait()
    await _events(hive)  # drop agent_started events
    return hive, backend, watch


async def test_kill_yields_exactly_one_crash(tmp_path: Path) -> None:
    hive, backend, _ = await _setup(tmp_path)
    try:
        await backend.crash("w1", status=3)
        await asyncio.sleep(0.3)  # several poll intervals too
        events = await _crash_events(hive)
        assert len(events) == 1
        assert events[0]["agent"] == "w1" and events[0]["exit_status"] == 3
        assert events[0]["last_log_lines"] == ["w1: fatal error, exiting 3"]
        assert hive.registry.get("w1").state == "crashed"
    finally:
        await hive.aclose()


async def test_poll_mode_detects_too(tmp_path: Path) -> None:
    hive, backend, _ = await _setup(tmp_path, event_driven=False)
    try:
        await backend.crash("w1", status=None)  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        events = await _crash_events(hive)
        assert [e["agent"] for e in events] == ["w1"]
    finally:
        await hive.aclose()


async def test_operations_yield_no_crash(tmp_path: Path) -> None:
    hive, backend, _ = await _setup(tmp_path)
    assert hive.lifecycle is not None
    try:
        backend.stop_delay = 0.1  # slower than a poll: the flag must cover it
        await hive.lifecycle.restart("w1")
        await hive.lifecycle.rebuild("w1")
        await hive.lifecycle.stop("w1")
        await hive.lifecycle.start("w1")
        await hive.lifecycle.destroy("w1")
        await asyncio.sleep(0.3)
        assert await _crash_events(hive) == []
    finally:
        await hive.aclose()


async def test_core_restart_with_containers_running_yields_none(tmp_path: Path) -> None:
    hive, backend, _ = await _setup(tmp_path)
    await hive.aclose()
    hive2 = Hive(tmp_path, hive.config, backend)
    await hive2.__aenter__()
    try:
        watch = CrashWatch(hive2, backend)
        hive2.add_service("crash_watch", watch.run)
        await watch.seeded.wait()
        await asyncio.sleep(0.3)
        assert await _crash_events(hive2) == []
        await backend.crash("w1")
        await asyncio.sleep(0.2)
        assert len(await _crash_events(hive2)) == 1
    finally:
        await hive2.aclose()


async def test_crash_loop_reported_once(tmp_path: Path) -> None:
    hive, backend, _ = await _setup(tmp_path)
    assert hive.lifecycle is not None
    try:
        for _ in range(5):
            await backend.crash("w1")
            await asyncio.sleep(0.1)
            await hive.lifecycle.restart("w1")  # the manager's restart
        await asyncio.sleep(0.2)
        events = await _crash_events(hive)
        assert [e["event"] for e in events].count("container_crash") == 5
        loops = [e for e in events if e["event"] == "crash_loop"]
        assert len(loops) == 1 and loops[0]["agent"] == "w1" and loops[0]["count"] == 3
        assert hive.registry.get("w1").crash_looping
    finally:
        await hive.aclose()
