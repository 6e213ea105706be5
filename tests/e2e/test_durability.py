"""Nothing acknowledged is lost: kill -9 `hivetui serve` mid-traffic, restart, count."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hivetui.core.hive import Hive
from hivetui.core.tool_surface import harness_url
from tests.mcp_util import ToolFailed, agent_client
from tests.serve_util import serve, stop, wait_serving

pytestmark = pytest.mark.slow


async def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with Hive(state) as hive:
        await hive.registry.create("alice", runtime="scripted:echo", model="m")
        await hive.registry.create("bob", runtime="scripted:echo", model="m")
    tokens = {n: (state / "secrets" / n / "token").read_text().strip()
              for n in ("alice", "bob")}
    proc = serve(state)
    acked: list[str] = []
    try:
        url = await wait_serving(proc, state)

        async def sender(name: str) -> None:
            async with agent_client(url, tokens[name]) as c:
                i = 0
                while True:
                    body = f"{name}-{i}"
                    await c.call("send", to="bob" if name == "alice" else "alice", body=body)
                    acked.append(body)  # send returned: the message is committed
                    i += 1

        tasks = [asyncio.create_task(sender(n)) for n in ("alice", "bob")]
        while len(acked) < 150:
            await asyncio.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-traffic
        proc.wait(10)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results)
        assert not any(isinstance(r, ToolFailed) for r in results), results
    finally:
        if proc.poll() is None:
            proc.kill()
    survivors = list(acked)

    proc = serve(state)
    try:
        await wait_serving(proc, state)
        out = subprocess.run(
            [sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(state), "inbox", "bob",
             "--limit", "100000", "--json"], capture_output=True, text=True, timeout=60)
        out2 = subprocess.run(
            [sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(state), "inbox", "alice",
             "--limit", "100000", "--json"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out2.returncode == 0, out.stderr + out2.stderr
        stored = {m["body"] for m in json.loads(out.stdout) + json.loads(out2.stdout)}
        missing = [b for b in survivors if b not in stored]
        assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
        assert len(survivors) >= 150
        # and the restarted core carries on: bob reads every message alice sent him
        async with agent_client(harness_url(json.loads(
                (state / "run" / "bridge.json").read_text())["url"]), tokens["bob"]) as bob:
            got: list[str] = []
            while True:
                batch = (await bob.call("recv", wait_s=0, max=100))["messages"]
                if not batch:
                    break
                got += [m["body"] for m in batch]
        assert {b for b in survivors if b.startswith("alice-")} <= set(got)
    finally:
        returncode = stop(proc, signal.SIGTERM, timeout=15)
    assert returncode == 0
