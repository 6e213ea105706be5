"""A core whose control socket answers before its bridge listens: a container operation
asked for in between waits for the bridge's address instead of writing an empty one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hivetui.core.hive import Hive
from tests.fakes.memory_backend import FakeMemoryBackend


async def test_a_spawn_before_the_bridge_listens_waits_for_its_address(tmp_path: Path
                                                                       ) -> None:
    backend = FakeMemoryBackend()
    async with Hive(tmp_path, backend=backend) as hive:
        lifecycle = hive.lifecycle
        assert lifecycle is not None
        lifecycle.expect_bridge()
        spawning = asyncio.create_task(lifecycle.spawn("w1", runtime="scripted:echo",
                                                       model="m"))
        await asyncio.sleep(0.2)
        assert not spawning.done() and "w1" not in backend.live
        lifecycle.publish_bridge_url("http://127.0.0.1:4321/mcp")
        await asyncio.wait_for(spawning, 10)
        written = json.loads((hive.paths.agent_run("w1") / "bridge.json").read_text())
        assert written == {"url": "http://127.0.0.1:7801/mcp",
                           "host_url": "http://127.0.0.1:4321/mcp"}
        assert "w1" in backend.live
