"""A whole hive on the real local backend: scripted agents in namespaces, through the bridge."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hivetui.core.config import HiveConfig
from hivetui.core.events import AgentStarted, ContainerCrash, Event, MessageSent
from hivetui.core.operator import Operator, OperatorSession
from hivetui.node import HiveNode

pytestmark = pytest.mark.slow


async def _wait(events: list[Event], pred, timeout: float = 30.0,  # type: ignore[no-untyped-def]
                start: int = 0) -> Event:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for ev in events[start:]:
            if pred(ev):
                return ev
        await asyncio.sleep(0.05)
    raise AssertionError(f"event not seen in {timeout}s; saw {[e.event for e in events][-30:]}")


async def test_echo_answers_and_crash_is_reported_and_recovered(tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.crash_watch.interval_s = 2.0
    async with HiveNode(tmp_path / "state", cfg) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        sub = node.hive.hub.subscribe()
        events: list[Event] = []

        async def collect() -> None:
            while True:
                events.append(await sub.get())

        collector = asyncio.create_task(collect())
        try:
            await api.spawn("boss", "scripted:manager", manager=True)
            await api.spawn("w1", "scripted:echo")
            await api.spawn("w2", "scripted:crash-after:2")
            # no agent can read another's token: nothing secret lies under agents/
            assert not list(node.paths.agents.rglob("token"))

            await api.send("w1", "ping from the operator")
            reply = await _wait(events, lambda e: isinstance(e, MessageSent)
                                and e.sender == "w1" and e.recipient == "operator")
            assert isinstance(reply, MessageSent) and "ping from the operator" in reply.body

            await api.send("w2", "one")  # one turn each: crash-after counts turns
            await _wait(events, lambda e: isinstance(e, MessageSent) and e.sender == "w2")
            await api.send("w2", "two")
            crash = await _wait(events, lambda e: isinstance(e, ContainerCrash))
            assert isinstance(crash, ContainerCrash) and crash.agent == "w2"
            assert crash.exit_status == 3
            assert any("exit" in line for line in crash.last_log_lines)
            idx = events.index(crash)
            # the scripted manager restarts the crashed worker through its MCP tool
            await _wait(events, lambda e: isinstance(e, AgentStarted) and e.agent == "w2",
                        start=idx)
            assert "w2" in await node.hive.lifecycle.backend.running()  # type: ignore[union-attr]
            await asyncio.sleep(1.0)
            crashes = [e for e in events if isinstance(e, ContainerCrash)]
            assert len(crashes) == 1
            audit = await api.audit()
            assert any(a.actor == "boss" and a.action == "restart" and a.target == "w2"
                       for a in audit)
        finally:
            collector.cancel()
            await node.stop_all()


async def test_the_managers_view_of_agents(tmp_path: Path) -> None:
    """The manager edits configs, reads (never writes) other agents' state, and sees no
    token, log or container bookkeeping of anyone."""
    async with HiveNode(tmp_path / "state", HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        try:
            await api.spawn("w1", "scripted:echo")
            (node.paths.agent_state("w1") / "notes.md").write_text("w1 notes\n")
            await api.spawn("boss", "scripted:manager", manager=True)
            backend = node.hive.lifecycle.backend  # type: ignore[union-attr]
            script = (
                "cd /agents/w1/config && echo edit >> prompt.md && git add prompt.md && "
                "git -c user.name=boss -c user.email=b@h commit -qm 'manager edit' && "
                "echo COMMIT-OK; cat /agents/w1/state/notes.md; "
                "touch /agents/w1/state/evil 2>/dev/null && echo STATE-WRITABLE; "
                "find /agents -name token -o -name 'supervisor*' -o -name '*.log' | "
                "sed 's/^/LEAK /'; echo DONE")
            proc = await asyncio.create_subprocess_exec(
                *backend.shell_argv("boss"), "-c", script,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out = (await asyncio.wait_for(proc.communicate(), 30))[0].decode()
            assert "DONE" in out, out
            assert "COMMIT-OK" in out, out
            assert "w1 notes" in out
            assert "STATE-WRITABLE" not in out and not (
                node.paths.agent_state("w1") / "evil").exists()
            assert "LEAK" not in out, out
            # the manager's commit is in the proposed repo, where a request can name it
            repos = node.hive.lifecycle.repos  # type: ignore[union-attr]
            head = await repos.proposed_head("w1")
            log = await repos.git(repos.proposed_dir("w1"), "log", "-1", "--format=%s", head)
            assert log.strip() == "manager edit"
        finally:
            await node.stop_all()


async def test_a_restarted_container_gets_its_new_token(tmp_path: Path) -> None:
    """Stop refuses the token; start issues a new one, and the harness in the real
    container (reading /run/hive/token at its start) answers with it."""
    async with HiveNode(tmp_path / "state", HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        sub = node.hive.hub.subscribe()
        events: list[Event] = []

        async def collect() -> None:
            while True:
                events.append(await sub.get())

        collector = asyncio.create_task(collect())
        try:
            await api.spawn("w1", "scripted:echo")
            token = node.paths.agent_run("w1") / "token"
            first = token.read_text().strip()
            await api.stop("w1")
            assert node.hive.registry.authenticate(first) is None
            await api.start("w1")
            assert token.read_text().strip() != first
            start = len(events)
            await api.send("w1", "still there?")
            reply = await _wait(events, lambda e: isinstance(e, MessageSent)
                                and e.sender == "w1" and e.recipient == "operator", start=start)
            assert isinstance(reply, MessageSent) and "still there?" in reply.body
        finally:
            collector.cancel()
            await node.stop_all()
