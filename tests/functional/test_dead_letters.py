"""No message lost to a failed turn, with the scripted runtimes and the real bus and bridge:
attempts, delivery again, dead letters (kept, `ctl inbox --dead`, toast, manager event);
and the model's endpoint, which serves only the model's tools."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hivetui.bridge.server import Bridge
from hivetui.control.server import ControlServer
from hivetui.core.bus import UNREPORTED
from hivetui.core.config import ConfigError, HiveConfig
from hivetui.core.events import MessageDead, Notification, TurnFailed
from hivetui.core.hive import Hive
from hivetui.core.tool_surface import HARNESS_TOOLS, MANAGER_TOOLS
from hivetui.harness.main import run_harness
from tests.harness_util import make_agent, operator_inbox
from tests.mcp_util import ToolFailed, agent_client


def _drain(events) -> list:  # type: ignore[no-untyped-def]
    out = []
    while not events._queue.empty():
        out.append(events._queue.get_nowait())
    return out


def _ctl(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(state),
                           *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


async def test_scripted_failed_turns_deliver_again_then_set_aside(
        hive: Hive, bridge: Bridge) -> None:
    """An echo whose answer the bus refuses (over bus.max_body_bytes): every turn fails."""
    control = ControlServer(hive)
    hive.add_service("control", control.run)
    await control.ready()
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    run, state = await make_agent(hive, bridge, "alice", "scripted:echo")
    events = hive.hub.subscribe()
    body = "x" * (hive.config.bus.max_body_bytes - 2)  # fits; "echo: " + it does not
    sent = await hive.bus.send("operator", "alice", body)
    late = await hive.bus.send("operator", "alice", "short one")
    assert await asyncio.wait_for(run_harness(run, state, recv_wait_s=2, max_turns=3), 30) == 0

    # three turns had both (the short one was answered each time: at least once), and a
    # turn fails as a whole: both were in max_attempts failed turns, both are set aside
    assert (await operator_inbox(hive)).count(("alice", "echo: short one")) == 3
    dead = await hive.bus.dead("alice")
    assert [(m.id, m.attempts) for m in dead] == [(sent.id, 3), (late.id, 3)]
    assert all("max_body_bytes" in m.last_failure for m in dead)
    assert hive.bus.depth("alice") == 0

    seen = _drain(events)
    failed = [e for e in seen if isinstance(e, TurnFailed)]
    assert len(failed) == 3 and all(e.messages == (sent.id, late.id) for e in failed)
    assert sorted(e.message_id for e in seen if isinstance(e, MessageDead)) == [sent.id, late.id]
    assert any(isinstance(e, Notification) and e.level == "error" and e.agent == "alice"
               and f"#{sent.id}" in e.title for e in seen)
    event, _ = [json.loads(m.body) for m in await hive.bus.history("boss")
                if m.recipient == "boss"]
    assert event["event"] == "message_dead" and event["agent"] == "alice"
    assert event["message_id"] == sent.id and event["attempts"] == 3

    # the operator: the reason in ctl agents, the dead letter in ctl inbox --dead
    out = await asyncio.to_thread(_ctl, hive.paths.root, "agents")
    assert out.returncode == 0, out.stderr
    assert "DETAIL" in out.stdout and "message body is 65540 bytes" in out.stdout
    out = await asyncio.to_thread(_ctl, hive.paths.root, "inbox", "alice", "--dead")
    assert out.returncode == 0, out.stderr
    assert f"#{sent.id} " in out.stdout and "dead after 3 failed turn(s)" in out.stdout
    assert "short one" in out.stdout
    out = await asyncio.to_thread(_ctl, hive.paths.root, "inbox", "alice", "--dead", "--json")
    listed = json.loads(out.stdout)
    assert [(m["id"], m["attempts"]) for m in listed] == [(sent.id, 3), (late.id, 3)]
    assert all(m["dead_at"] for m in listed)
    out = await asyncio.to_thread(_ctl, hive.paths.root, "inbox", "bob-gone", "--dead")
    assert out.returncode == 1


async def test_a_scripted_turn_that_ends_ok_acknowledges(hive: Hive, bridge: Bridge) -> None:
    run, state = await make_agent(hive, bridge, "alice", "scripted:echo")
    sent = await hive.bus.send("operator", "alice", "hello")
    assert await asyncio.wait_for(run_harness(run, state, recv_wait_s=2, max_turns=1), 30) == 0
    [stored] = [m for m in await hive.bus.history("alice") if m.id == sent.id]
    assert stored.delivered_at is not None and stored.attempts == 1 and stored.dead_at is None
    assert hive.bus.depth("alice") == 0


async def test_turns_that_never_report_count_too(hive: Hive) -> None:
    """A harness killed in every turn (no report): the hand-outs count, and the message is
    set aside instead of looping for ever."""
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    sent = await hive.bus.send("operator", "alice", "poison")
    for attempt in (1, 2, 3):
        [got] = await hive.bus.recv("alice", 0, 20, ack=0)
        assert got.id == sent.id and got.attempts == attempt
    events = hive.hub.subscribe()
    assert await hive.bus.recv("alice", 0, 20, ack=0) == []
    [dead] = await hive.bus.dead("alice")
    assert dead.last_failure == UNREPORTED and dead.attempts == 4
    dead_seen = [e.message_id for e in _drain(events) if isinstance(e, MessageDead)]
    assert dead_seen == [sent.id]


async def test_a_failed_turn_names_only_its_own_messages(hive: Hive) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    await hive.registry.create("bob", runtime="scripted:echo", model="m")
    to_bob = await hive.bus.send("operator", "bob", "for bob")
    assert await hive.bus.turn_failed("alice", [to_bob.id], "boom") == []
    [stored] = [m for m in await hive.bus.history("bob") if m.id == to_bob.id]
    assert stored.last_failure == ""
    with pytest.raises(Exception, match="positive integers"):
        await hive.bus.turn_failed("alice", ["1"], "boom")  # type: ignore[list-item]


def test_max_attempts_is_checked() -> None:
    cfg = HiveConfig()
    with pytest.raises(ConfigError, match="harness.max_attempts must be an integer from 1 to "
                                          "100"):
        cfg.harness.max_attempts = 0


async def test_the_model_endpoint_serves_only_the_models_tools(
        hive: Hive, bridge: Bridge) -> None:
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    token = {n: (hive.paths.agent_run(n) / "token").read_text().strip() for n in ("boss", "ann")}
    await hive.bus.send("operator", "ann", "not the model's to take")
    async with agent_client(bridge.url, token["ann"]) as ann, \
            agent_client(bridge.url, token["boss"]) as boss:
        assert [t.name for t in (await ann.client.list_tools()).tools] == ["send"]
        assert {t.name for t in (await boss.client.list_tools()).tools} == {
            "send", *MANAGER_TOOLS}
        for tool in HARNESS_TOOLS:
            with pytest.raises(ToolFailed, match=f"Unknown tool: {tool}"):
                await ann.call(tool)
        with pytest.raises(ToolFailed, match="for the manager only"):
            await ann.call("list_agents")
        assert (await ann.call("send", to="operator", body="hi"))["id"] > 0
    assert hive.bus.depth("ann") == 1  # nothing taken
    async with agent_client(bridge.harness_url, token["ann"]) as harness:
        got = (await harness.call("recv", wait_s=0, max=5, ack=0))["messages"]
        assert [m["body"] for m in got] == ["not the model's to take"]


async def test_ctl_inbox_shows_a_message_waiting_after_a_failed_turn(hive: Hive) -> None:
    control = ControlServer(hive)
    hive.add_service("control", control.run)
    await control.ready()
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    sent = await hive.bus.send("operator", "alice", "try again")
    await hive.bus.recv("alice", 0, 20, ack=0)
    assert await hive.bus.turn_failed("alice", [sent.id], "API Error: 529 Overloaded") == []
    out = await asyncio.to_thread(_ctl, hive.paths.root, "inbox", "alice")
    assert out.returncode == 0, out.stderr
    assert ("waiting: 1 turn(s) had it, not acknowledged; last failure: API Error: 529 "
            "Overloaded") in out.stdout
    assert hive.bus.depth("alice") == 1


class CoreDied(BaseException):
    """Stands in for the process ending right there (nothing after it runs)."""


async def test_a_dead_letter_set_aside_by_a_core_killed_before_reporting_is_reported_at_start(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with Hive(state) as hive:
        await hive.registry.create("boss", runtime="scripted:manager", model="m",
                                   role="manager")
        await hive.registry.create("alice", runtime="scripted:echo", model="m")
        sent = await hive.bus.send("operator", "alice", "poison")

        async def killed(messages: list[object]) -> None:
            raise CoreDied

        hive.bus.on_dead = killed  # the core dies between setting it aside and telling
        for _ in range(3):
            await hive.bus.recv("alice", 0, 20, ack=0)
        with pytest.raises(CoreDied):
            await hive.bus.recv("alice", 0, 20, ack=0)
    for _ in range(2):  # told once at the next start, and not again after that
        async with Hive(state) as hive:
            told = [json.loads(m.body) for m in await hive.bus.history("boss")
                    if m.kind == "system"]
            assert [e["message_id"] for e in told if e["event"] == "message_dead"] == [sent.id]
