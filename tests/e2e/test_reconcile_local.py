"""An agent whose real local container dies while no core runs is reported at start-up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from hivetui.node import HiveNode

pytestmark = pytest.mark.slow


async def test_container_killed_while_the_core_is_down_is_reported(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with HiveNode(state) as node:
        lifecycle = node.hive.lifecycle
        assert lifecycle is not None
        await node.hive.registry.create("boss", role="manager", runtime="scripted:manager",
                                        model="m")  # no container: events stay in its inbox
        await lifecycle.spawn("w1", runtime="scripted:echo", model="m")
        await lifecycle.spawn("w2", runtime="scripted:echo", model="m")
    # the core is down; w1's container dies
    supervisor = state / "containers" / "w1" / "supervisor"
    pid = json.loads((supervisor / "container.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        if (supervisor / "exit.json").exists():
            break
        await asyncio.sleep(0.05)
    async with HiveNode(state) as node:
        try:
            inbox = await node.hive.bus.recv("boss", 0, 100)
            crashes = [json.loads(m.body) for m in inbox if m.kind == "system"
                       and json.loads(m.body)["event"] == "container_crash"]
            assert [(c["agent"], c["found_at_start"]) for c in crashes] == [("w1", True)]
            assert crashes[0]["exit_status"] == -signal.SIGKILL
            assert "while the core was down" in crashes[0]["detail"]
            assert node.hive.registry.get("w1").state == "crashed"
            assert node.hive.registry.get("w2").state == "running"
        finally:
            await node.stop_all()
