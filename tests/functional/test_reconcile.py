"""Reconcile on start: the registry is compared with what the backend really runs, and
each disagreement is corrected and reported (FakeMemoryBackend stands in for the
containers; tests/e2e/test_reconcile_local.py does the crash case with real ones)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hivetui.core.config import HiveConfig
from hivetui.core.crash_watch import CrashWatch
from hivetui.core.hive import Hive
from tests.fakes.memory_backend import FakeMemoryBackend


async def _first_hive(tmp_path: Path, backend: FakeMemoryBackend) -> None:
    """A manager without a container, and w1..w3 running; then the core goes away."""
    async with Hive(tmp_path, HiveConfig(), backend) as hive:
        assert hive.lifecycle is not None
        await hive.registry.create("boss", role="manager", runtime="scripted:manager",
                                   model="m")
        for name in ("w1", "w2", "w3"):
            await hive.lifecycle.spawn(name, runtime="scripted:echo", model="m")


async def _restart(tmp_path: Path, backend: FakeMemoryBackend) -> tuple[Hive, CrashWatch]:
    hive = Hive(tmp_path, HiveConfig(), backend)
    await hive.__aenter__()
    watch = CrashWatch(hive, backend)
    await watch.seed()
    return hive, watch


async def _manager_events(hive: Hive, since: float = 0.0) -> list[dict[str, object]]:
    events = [json.loads(m.body) for m in await hive.bus.recv("boss", 0, 100)
              if m.kind == "system"]
    return [e for e in events if float(e["ts"]) >= since]


async def _audit(hive: Hive) -> list[str]:
    return [f"{a.target}: {a.detail}" for a in await hive.audit.query(action="reconcile")]


async def test_an_agent_that_died_while_the_core_was_down_is_a_crash(tmp_path: Path) -> None:
    backend = FakeMemoryBackend()
    await _first_hive(tmp_path, backend)
    await backend.crash("w2", status=3)  # no core watches
    hive, _ = await _restart(tmp_path, backend)
    try:
        crashes = [e for e in await _manager_events(hive) if e["event"] == "container_crash"]
        assert [(e["agent"], e["found_at_start"]) for e in crashes] == [("w2", True)]
        assert "while the core was down" in str(crashes[0]["detail"])
        assert crashes[0]["last_log_lines"] == ["w2: fatal error, exiting 3"]
        assert hive.registry.get("w2").state == "crashed"
        assert hive.registry.get("w1").state == "running"
        assert any(line.startswith("w2: ") for line in await _audit(hive))
    finally:
        await hive.aclose()


async def test_each_disagreement_is_corrected_and_reported(tmp_path: Path) -> None:
    backend = FakeMemoryBackend()
    await _first_hive(tmp_path, backend)
    async with Hive(tmp_path, HiveConfig(), backend) as hive:
        # records a core killed half-way would leave behind
        await hive.registry.update("w1", state="stopped")  # stop recorded, not done
        await hive.registry.update("w2", state="created")  # start done, not recorded
    backend.specs["ghost"] = backend.specs["w3"]
    backend.live.add("ghost")  # a container of no registered agent
    restarted = time.time()
    hive, _ = await _restart(tmp_path, backend)
    try:
        assert backend.live == {"w2", "w3"}
        assert hive.registry.get("w1").state == "stopped"
        assert hive.registry.get("w2").state == "running"
        events = await _manager_events(hive, since=restarted)
        assert [e["agent"] for e in events if e["event"] == "agent_started"] == ["w2"]
        assert not [e for e in events if e["event"] == "container_crash"]
        audit = "\n".join(await _audit(hive))
        assert "w1: " in audit and "w2: " in audit and "ghost: " in audit
    finally:
        await hive.aclose()


async def test_a_readopted_container_that_never_reconnects_is_reported(tmp_path: Path
                                                                       ) -> None:
    backend = FakeMemoryBackend()
    await _first_hive(tmp_path, backend)
    hive, watch = await _restart(tmp_path, backend)
    try:
        token = (hive.paths.agent_run("w1") / "token").read_text().strip()
        assert hive.registry.authenticate(token) is not None  # w1 called the bridge
        assert await watch.verify_reconnected() == ["w2", "w3"]
        assert "has not called the bridge" in hive.registry.get("w2").status_detail
        assert hive.registry.get("w1").status_detail == ""
    finally:
        await hive.aclose()
