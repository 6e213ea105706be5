"""Turn transcripts: streamed while the turn runs, cut in transit, dropped visibly, kept per
turn with retention, surviving a restart, searchable. Real sqlite, real bridge, real harness
client; the runtimes are scripted (in-process, deterministic)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.config import HiveConfig
from hivetui.core.errors import HiveError
from hivetui.core.hive import Hive
from hivetui.core.operator import agent_view
from hivetui.core.tool_surface import harness_url
from hivetui.core.transcript_format import RESULT_KEEP_CHARS, call_event, result_event
from hivetui.core.transcripts import FOLLOW_QUEUE_EVENTS
from hivetui.harness.client import HiveClient
from hivetui.harness.loop import LoopConfig, TurnLoop
from hivetui.harness.main import run_harness
from hivetui.harness.runtime import AgentIdentity, TurnContext, TurnResult
from hivetui.harness.transcript import TranscriptStream
from tests.harness_util import make_agent


def _bash(command: str, ts: float = 0.0) -> dict[str, Any]:
    return call_event("t1", "Bash", {"command": command}, ts)


def _end(cost: float = 0.01) -> dict[str, Any]:
    return {"kind": "end", "ts": 0.0, "outcome": "ok", "duration_s": 1.5, "cost_usd": cost,
            "tokens_in": 1200, "tokens_out": 300, "cache_read": 0, "cache_write": 0}


class GatedRuntime:
    """A runtime whose turn calls Bash, then waits for the test to open the gate."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def run_turn(self, ctx: TurnContext) -> TurnResult:
        ctx.emit(_bash("pytest -q", time.time()))
        await self.gate.wait()
        ctx.emit(result_event("t1", "3 passed", False, time.time()))
        result = TurnResult(outcome="ok", cost_usd=0.02)
        result.tokens.update(tokens_in=10, tokens_out=5)
        return result

    async def compact_notes(self, notes: str, limit_bytes: int, model: str) -> str:
        return notes

    async def aclose(self) -> None:
        return None


async def test_a_turn_is_followed_live_while_it_runs(hive: Hive, bridge: Bridge) -> None:
    run, state = await make_agent(hive, bridge, "alice", "scripted:echo")
    token = (run / "token").read_text().strip()
    identity = AgentIdentity.load(run / "agent.json")
    runtime = GatedRuntime()
    follow = hive.transcripts.follow("alice")
    snapshot = await anext(follow)
    assert snapshot["snapshot"] and snapshot["events"] == []
    async with HiveClient(harness_url(bridge.url), token) as client:
        loop = TurnLoop(client, runtime, identity, state,
                        LoopConfig(recv_wait_s=1, max_turns=1))
        task = asyncio.create_task(loop.run())
        await hive.bus.send("operator", "alice", "run the tests")
        seen: list[dict[str, Any]] = []
        while not any(e["kind"] == "tool_call" for e in seen):
            seen += (await asyncio.wait_for(anext(follow), 10))["events"]
        # the turn is still waiting at the gate: what it did so far is already here
        assert not task.done()
        assert [e["kind"] for e in seen] == ["prompt", "tool_call"]
        assert "run the tests" in seen[0]["text"]
        view = agent_view(hive, hive.registry.get("alice"))
        assert view.action == "Bash: pytest -q" and view.action_since is not None
        runtime.gate.set()
        assert await asyncio.wait_for(task, 10) == 0
    while seen[-1]["kind"] != "end":
        seen += (await asyncio.wait_for(anext(follow), 10))["events"]
    assert [e["kind"] for e in seen] == ["prompt", "tool_call", "tool_result", "end"]
    assert seen[-1]["cost_usd"] == 0.02 and seen[-1]["tokens_in"] == 10
    assert agent_view(hive, hive.registry.get("alice")).action == ""
    turn = await hive.transcripts.turn("alice")
    assert turn["turn"]["cost_usd"] == 0.02 and turn["turn"]["outcome"] == "ok"
    await follow.aclose()


async def test_scripted_echo_writes_its_transcript(hive: Hive, bridge: Bridge) -> None:
    run, state = await make_agent(hive, bridge, "bob", "scripted:echo")
    task = asyncio.create_task(run_harness(run, state, recv_wait_s=2, max_turns=1))
    await hive.bus.send("operator", "bob", "ping")
    assert await asyncio.wait_for(task, 20) == 0
    turn = await hive.transcripts.turn("bob")
    kinds = [e["kind"] for e in turn["events"]]
    assert kinds == ["prompt", "text", "tool_call", "tool_result", "end"]
    call = turn["events"][2]
    assert call["name"] == "mcp__hive__send" and call["input"] == {"to": "operator",
                                                                   "body": "echo: ping"}


async def test_large_results_are_cut_in_transit_and_the_core_cuts_what_an_agent_sends(
        hive: Hive) -> None:
    await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
    event = result_event("t1", "x" * 100_000, False, 0.0)
    assert len(event["text"]) == RESULT_KEEP_CHARS and event["size"] == 100_000
    assert event["truncated"]
    # an agent that skips the harness and sends the whole thing is cut by the core too
    forged = {"kind": "tool_result", "id": "t2", "text": "y" * 50_000, "size": 3}
    await hive.transcripts.ingest("alice", "k:1", [event, forged])
    stored = (await hive.transcripts.turn("alice"))["events"]
    assert [len(e["text"]) for e in stored] == [RESULT_KEEP_CHARS, RESULT_KEEP_CHARS]
    assert [e["size"] for e in stored] == [100_000, 50_000]
    assert all(e["truncated"] for e in stored)
    with pytest.raises(HiveError, match="event kind must be one of"):
        await hive.transcripts.ingest("alice", "k:1", [{"kind": "rm -rf"}])
    with pytest.raises(HiveError, match="cost_usd must be a number"):
        await hive.transcripts.ingest("alice", "k:1", [{**_end(), "cost_usd": float("nan")}])


async def test_a_slow_viewer_gets_a_drop_marker_and_never_slows_ingest(hive: Hive) -> None:
    await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
    follow = hive.transcripts.follow("alice")
    await anext(follow)  # the snapshot; then the viewer stops reading
    total = FOLLOW_QUEUE_EVENTS * 2
    for start in range(0, total, 100):
        await hive.transcripts.ingest("alice", "k:1", [
            {"kind": "text", "text": f"line {i}"} for i in range(start, start + 100)])
    got: list[dict[str, Any]] = []
    while not got or got[-1].get("text") != f"line {total - 1}":
        got += (await asyncio.wait_for(anext(follow), 5))["events"]
    assert got[0]["kind"] == "dropped"
    shown = [e for e in got if e["kind"] == "text"]
    assert got[0]["count"] + len(shown) == total
    assert got[0]["count"] >= FOLLOW_QUEUE_EVENTS - 100
    assert [e["text"] for e in shown] == [f"line {i}" for i in range(total - len(shown), total)]
    await follow.aclose()


async def test_the_harness_queue_drops_with_a_marker_and_emit_never_waits() -> None:
    class StuckSink:
        def __init__(self) -> None:
            self.open = asyncio.Event()
            self.got: list[dict[str, Any]] = []

        async def transcript(self, turn_key: str, events: list[dict[str, Any]]) -> None:
            await self.open.wait()
            self.got += events

    sink = StuckSink()
    stream = TranscriptStream(sink, capacity=100, linger_s=0.0)
    sender = asyncio.create_task(stream.run())
    emit = stream.emitter(1)
    emit({"kind": "prompt", "text": "p"})
    await asyncio.sleep(0.01)  # the sender took the prompt and is stuck sending it
    started = time.perf_counter()
    for i in range(1000):
        emit({"kind": "text", "text": str(i)})
    emit({"kind": "end", "outcome": "ok"})
    assert time.perf_counter() - started < 0.5  # appends only: nothing waited on the sink
    # full: 100 texts, then the end that always gets in, told of the 900 lost before it;
    # and the prompt, still in the call under way
    assert stream.queued == 1 + 102
    emit({"kind": "text", "text": "after"})  # still full: dropped too
    sink.open.set()
    await stream.drain(5)
    kinds = [e["kind"] for e in sink.got]
    assert kinds == ["prompt", *["text"] * 100, "dropped", "end"]
    assert sink.got[-2]["count"] == 900
    emit({"kind": "text", "text": "late"})  # room again: the loss is told first
    await stream.drain(5)
    assert [e.get("count", e.get("text")) for e in sink.got[-2:]] == [1, "late"]
    assert stream.dropped_total == 901
    sender.cancel()


async def test_retention_keeps_the_newest_turns_by_count_and_bytes(tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.transcript.keep_turns = 3
    cfg.transcript.keep_bytes = 64 * 1024
    async with Hive(tmp_path / "s", cfg) as hive:
        await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
        for n in range(5):
            await hive.transcripts.ingest("alice", f"k:{n}", [
                {"kind": "prompt", "text": f"turn {n}"}, _end()])
        await hive.transcripts.flush()
        assert (await hive.transcripts.turn("alice"))["turns"] == [3, 4, 5]
        big = "z" * 15_000
        for n in range(5, 9):  # about 30 KB each: two fit in 64 KiB
            await hive.transcripts.ingest("alice", f"k:{n}", [
                {"kind": "text", "text": big}, {"kind": "text", "text": big}, _end()])
        await hive.transcripts.flush()
        assert (await hive.transcripts.turn("alice"))["turns"] == [8, 9]
        (events,) = await hive.store.fetchone(
            "SELECT COUNT(*) FROM transcript_events WHERE turn < 8") or (0,)
        assert events == 0


async def test_one_turn_past_keep_bytes_keeps_its_start_and_counts_the_rest(
        tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.transcript.keep_bytes = 64 * 1024
    async with Hive(tmp_path / "s", cfg) as hive:
        await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
        await hive.transcripts.ingest("alice", "k:1", [
            {"kind": "text", "text": "w" * 10_000} for _ in range(10)] + [_end()])
        turn = await hive.transcripts.turn("alice")
        assert turn["turn"]["dropped"] == 4 and turn["turn"]["bytes"] <= 64 * 1024
        assert [e["kind"] for e in turn["events"]][-1] == "end"


async def test_transcripts_survive_a_restart_and_a_turn_goes_on_after_it(
        tmp_path: Path) -> None:
    async with Hive(tmp_path / "s") as hive:
        await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
        await hive.transcripts.ingest("alice", "boot:1", [{"kind": "prompt", "text": "hi"},
                                                          _end(0.5)])
        await hive.transcripts.ingest("alice", "boot:2", [{"kind": "prompt", "text": "two"},
                                                          _bash("git status")])
    async with Hive(tmp_path / "s") as hive:
        first = await hive.transcripts.turn("alice", 1)
        assert [e["kind"] for e in first["events"]] == ["prompt", "end"]
        assert first["turn"]["cost_usd"] == 0.5
        # the harness goes on with its turn after the core came back
        assert await hive.transcripts.ingest("alice", "boot:2", [_end(0.25)]) == 2
        second = await hive.transcripts.turn("alice", 2)
        assert [(e["kind"], e["seq"]) for e in second["events"]] == [
            ("prompt", 0), ("tool_call", 1), ("end", 2)]
        assert (await hive.transcripts.cost("alice", 0))["cost_usd"] == 0.75
        with pytest.raises(HiveError, match="has no turn 7 .*kept: 1 to 2"):
            await hive.transcripts.turn("alice", 7)


async def test_grep_finds_text_across_agents_and_not_the_json_around_it(hive: Hive) -> None:
    for name in ("alice", "bob"):
        await hive.registry.create(name, role="worker", runtime="scripted:echo", model="m")
    await hive.transcripts.ingest("alice", "a:1", [
        {"kind": "prompt", "text": "fix the Flaky test"}, _bash("pytest -k flaky")])
    await hive.transcripts.ingest("bob", "b:1", [
        result_event("r", "tests/test_x.py::flaky FAILED", False, 0.0)])
    hits = await hive.transcripts.grep("flaky")
    assert sorted((h["agent"], h["kind"]) for h in hits) == [
        ("alice", "prompt"), ("alice", "tool_call"), ("bob", "tool_result")]
    assert any(h["line"] == "Bash: pytest -k flaky" for h in hits)
    assert await hive.transcripts.grep("kind") == []  # a JSON key, not content
    assert {h["agent"] for h in await hive.transcripts.grep("flaky", agent="bob")} == {"bob"}
    with pytest.raises(HiveError, match="1 to 200 characters"):
        await hive.transcripts.grep("   ")


async def test_follow_starts_with_the_newest_turn_then_goes_on(hive: Hive) -> None:
    await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
    await hive.transcripts.ingest("alice", "a:1", [{"kind": "prompt", "text": "one"}])
    follow = hive.transcripts.follow("alice")
    first = await anext(follow)
    assert first["snapshot"] and [e["text"] for e in first["events"]] == ["one"]
    await hive.transcripts.ingest("alice", "a:1", [{"kind": "text", "text": "two"}])
    nxt = await asyncio.wait_for(anext(follow), 5)
    assert [e["text"] for e in nxt["events"]] == ["two"] and nxt["turn"] == 1
    await follow.aclose()


async def test_turns_that_never_ended_are_unfinished_and_still_retained(
        tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.transcript.keep_turns = 3
    async with Hive(tmp_path / "s", cfg) as hive:
        await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
        await hive.transcripts.ingest("alice", "dead-harness:1", [_bash("make")])
    async with Hive(tmp_path / "s", cfg) as hive:  # the core restarted meanwhile
        for n in range(2, 7):  # an agent that opens turns and never ends one
            await hive.transcripts.ingest("alice", f"boot:{n}", [{"kind": "text", "text": "x"}])
        await hive.transcripts.flush()
        turns = await hive.transcripts.turns("alice")
        assert [(t["turn"], t["outcome"]) for t in turns] == [
            (4, "unfinished"), (5, "unfinished"), (6, "")]


async def test_the_action_shows_only_while_the_agent_is_in_a_turn(hive: Hive) -> None:
    await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
    await hive.registry.update("alice", status="in_turn")
    await hive.transcripts.ingest("alice", "k:1", [_bash("make -j8")])
    assert agent_view(hive, hive.registry.get("alice")).action == "Bash: make -j8"
    await hive.registry.update("alice", status="offline")  # its harness died mid-turn
    assert agent_view(hive, hive.registry.get("alice")).action == ""


async def test_cost_today_per_turn_and_the_brokers_figure_beside_the_clis(hive: Hive) -> None:
    from hivetui.core.operator import Operator, OperatorSession
    from hivetui.tui.widgets.agent.info import cost_text

    await hive.registry.create("alice", role="worker", runtime="scripted:echo", model="m")
    api = OperatorSession(hive, Operator("local:test"))
    for n, cost in enumerate((0.01, 0.02)):
        await hive.transcripts.ingest("alice", f"k:{n}", [{"kind": "prompt", "text": "p"},
                                                          _end(cost)])
    cost = await api.cost("alice")
    assert cost["turns"] == 2 and cost["cost_usd"] == pytest.approx(0.03)
    assert cost["cost_per_turn_usd"] == pytest.approx(0.015)
    assert cost["tokens_in"] == 2400 and cost["broker_cost_usd"] is None
    assert str(cost_text(cost)) == "$0.0300 in 2 turn(s) (2,400 in / 600 out tokens)"
    asked: list[tuple[str, float]] = []

    async def broker(agent: str, since: float) -> float | None:  # what a broker counted
        asked.append((agent, since))
        return 0.05

    hive.broker_spend = broker
    cost = await api.cost("alice")
    assert cost["broker_cost_usd"] == 0.05
    assert asked[0][0] == "alice" and asked[0][1] % 86400 == 0  # today, from UTC midnight
    assert str(cost_text(cost)).endswith("; broker counted $0.0500 (+0.0200 vs the CLI)")
