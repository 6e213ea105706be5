"""End to end on the real local backend: the operator asks the scripted manager for a
worker, the manager requests the spawn over MCP, the operator approves with `hivetui ctl`,
the worker comes up in its namespace and answers."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from hivetui.core.config import HiveConfig
from hivetui.core.events import AgentStarted, ApprovalRequested, Event, MessageSent
from hivetui.core.operator import Operator, OperatorSession
from hivetui.node import HiveNode

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("unshare") is None and shutil.which("bwrap") is None,
                       reason="the local backend needs bubblewrap or unshare"),
]


async def _wait(events: list[Event], pred, timeout: float = 30.0  # type: ignore[no-untyped-def]
                ) -> Event:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for ev in events:
            if pred(ev):
                return ev
        await asyncio.sleep(0.05)
    raise AssertionError(f"event not seen in {timeout}s; saw {[e.event for e in events][-30:]}")


async def ctl(state: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(state), *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_operator_asks_manager_requests_operator_approves_worker_answers(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with HiveNode(state, HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        sub = node.hive.hub.subscribe()
        events: list[Event] = []

        async def collect() -> None:
            while True:
                events.append(await sub.get())

        collector = asyncio.create_task(collect())
        try:
            await api.spawn("boss", "scripted:manager", manager=True)
            await api.send("boss", "spawn w1 scripted:echo")
            req = await _wait(events, lambda e: isinstance(e, ApprovalRequested))
            assert isinstance(req, ApprovalRequested) and req.agent == "w1"

            rc, out, err = await ctl(state, "approvals", "--json")
            assert rc == 0, err
            pending = json.loads(out)
            assert [(p["id"], p["kind"], p["agent"]) for p in pending] == \
                [(req.id, "spawn", "w1")]
            assert '+runtime = "scripted:echo"' in pending[0]["diff"]

            rc, out, err = await ctl(state, "approve", str(req.id))
            assert rc == 0, err
            assert f"approved #{req.id}" in out
            await _wait(events, lambda e: isinstance(e, AgentStarted) and e.agent == "w1")
            assert "w1" in await node.hive.lifecycle.backend.running()  # type: ignore[union-attr]

            # a second approve, as a second operator would: refused, nothing changes
            rc, _, err = await ctl(state, "approve", str(req.id))
            assert rc != 0 and "already resolved" in err

            await api.send("w1", "hello worker")
            reply = await _wait(events, lambda e: isinstance(e, MessageSent)
                                and e.sender == "w1" and e.recipient == "operator")
            assert isinstance(reply, MessageSent) and "hello worker" in reply.body
            # the manager heard the result in its inbox
            history = await node.hive.bus.history("boss", 50)
            resolved = [json.loads(m.body) for m in history if m.kind == "system"
                        and '"approval_resolved"' in m.body]
            assert resolved and resolved[0]["result"] == "approved"
            assert resolved[0]["commit"] == await node.hive.approvals.repos.applied("w1")
        finally:
            collector.cancel()
            await node.stop_all()
