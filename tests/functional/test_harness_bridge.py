"""The harness against the real bridge (uvicorn on loopback, bearer identity, real MCP client).

Runtimes are real: ``scripted:*`` in-process, and ``claude`` with a fake ``claude`` binary that
makes its hive tool calls for real through the bridge with the token from ``--mcp-config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.errors import HarnessError
from hivetui.core.events import ContainerCrash
from hivetui.core.hive import Hive
from hivetui.harness.main import run_harness
from tests.fakes.claude import scenarios as sc
from tests.fakes.claude.scenarios import FakeClaude
from tests.fakes.memory_backend import FakeMemoryBackend
from tests.harness_util import MODEL, make_agent, operator_inbox, until


async def _series(hive: Hive, agent: str) -> dict[str, list[float]]:
    await hive.telemetry.flush()
    series = await hive.telemetry.query(agent, since_s=600)
    return {k: [v for _, v in points] for k, points in series.items()}


async def test_echo_answers_the_operator_through_the_bridge(hive: Hive, bridge: Bridge) -> None:
    run, state = await make_agent(hive, bridge, "alice", "scripted:echo")
    task = asyncio.create_task(run_harness(run, state, recv_wait_s=5, max_turns=1))
    await until(lambda: _status(hive, "alice", "idle"))
    await hive.bus.send("operator", "alice", "hello alice")
    assert await asyncio.wait_for(task, 20) == 0
    assert ("alice", "echo: hello alice") in await operator_inbox(hive)
    series = await _series(hive, "alice")
    assert series["turns"] == [1.0]
    assert series["outcome_ok"] == [1.0]
    assert series["received_operator"] == [1.0] and series["sent_operator"] == [1.0]
    assert series["tool:mcp__hive__send"] == [1.0]
    assert series["notes_bytes"][0] > 0
    agent = hive.registry.get("alice")
    assert agent.status == "idle" and "last turn ok" in agent.status_detail


async def _status(hive: Hive, name: str, status: str) -> bool:
    return hive.registry.get(name).status == status


async def test_claude_runtime_sends_through_the_bridge_with_its_token(
        hive: Hive, bridge: Bridge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, state = await make_agent(hive, bridge, "carl", "claude")
    fake = FakeClaude(tmp_path / "fake", [sc.simple_ok(cost=0.25, mcp=True,
                                                       reply=("operator", "done by claude"))])
    monkeypatch.setenv("FAKE_CLAUDE_DIR", str(fake.root))
    await hive.bus.send("operator", "carl", "do the thing")
    status = await asyncio.wait_for(
        run_harness(run, state, recv_wait_s=5, max_turns=1, claude_bin=str(fake.bin)), 30)
    assert status == 0
    # the message really went through the bridge, under carl's identity
    assert ("carl", "done by claude") in await operator_inbox(hive)
    [call] = fake.calls()
    assert "do the thing" in call["stdin"]
    series = await _series(hive, "carl")
    assert series["outcome_ok"] == [1.0]
    assert series["cost_usd"] == [0.25]
    assert series["tool:mcp__hive__send"] == [1.0] and series["sent_operator"] == [1.0]


async def test_crash_after_2_exits_the_harness_process_with_status_3(
        hive: Hive, bridge: Bridge) -> None:
    run, state = await make_agent(hive, bridge, "crashy", "scripted:crash-after:2")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hivetui", "harness", "--run-dir", str(run),
        "--state-dir", str(state), stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    for i in (1, 2):
        await hive.bus.send("operator", "crashy", f"m{i}")
        await until(lambda i=i: _has(hive, ("crashy", f"echo: m{i}")), 20)
    rc = await asyncio.wait_for(proc.wait(), 20)
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert rc == 3, err
    assert "asked the harness to exit with status 3" in err
    series = await _series(hive, "crashy")
    assert series["turns"] == [1.0, 1.0]


async def _has(hive: Hive, item: tuple[str, str]) -> bool:
    return item in await operator_inbox(hive)


async def test_model_override_next_turn_and_persisted_override(hive: Hive,
                                                               bridge: Bridge) -> None:
    run, state = await make_agent(hive, bridge, "mo", "scripted:echo")
    task = asyncio.create_task(run_harness(run, state, recv_wait_s=5, max_turns=2))
    await hive.bus.send("operator", "mo", "one")
    await until(lambda: _has(hive, ("mo", "echo: one")))
    await hive.registry.update("mo", model_override="m-operator")
    await hive.bus.send("operator", "mo", "two")
    assert await asyncio.wait_for(task, 20) == 0
    notes = (state / "notes.md").read_text().splitlines()
    assert "model m-default" in notes[1] and "model m-operator" in notes[2]

    # --persist: the core wrote /state/model and the override is gone; a restart honours it
    await hive.registry.update("mo", model_override=None)
    (state / "model").write_text("m-persisted\n")
    task = asyncio.create_task(run_harness(run, state, recv_wait_s=5, max_turns=1))
    await hive.bus.send("operator", "mo", "three")
    assert await asyncio.wait_for(task, 20) == 0
    assert "model m-persisted" in (state / "notes.md").read_text().splitlines()[3]


@pytest.fixture
async def managed(tmp_path: Path) -> AsyncIterator[tuple[Hive, Bridge, FakeMemoryBackend]]:
    backend = FakeMemoryBackend()
    async with Hive(tmp_path / "mstate", backend=backend) as hive:
        bridge = Bridge(hive)
        hive.add_service("bridge", bridge.run)
        await bridge.ready()
        yield hive, bridge, backend


async def test_scripted_manager_spawns_asks_forwards_and_restarts(
        managed: tuple[Hive, Bridge, FakeMemoryBackend]) -> None:
    hive, bridge, backend = managed
    run, state = await make_agent(hive, bridge, "boss", "scripted:manager", role="manager")
    assert hive.lifecycle is not None
    for name in ("w1", "w2"):
        await hive.lifecycle.spawn(name, runtime="scripted:echo", model=MODEL)
    for text in ("spawn carol", "build it", "test it", "ask ship it?"):
        await hive.bus.send("operator", "boss", text)
    await hive.bus.send("w1", "boss", "built")
    await hive.notify_manager(ContainerCrash(agent="w2", exit_status=1))
    # (plus agent_started for w1 and w2: three system messages)
    backend.calls.clear()
    status = await asyncio.wait_for(run_harness(run, state, recv_wait_s=5, max_turns=1), 20)
    assert status == 0
    series = await _series(hive, "boss")
    assert series["tool:mcp__hive__request_spawn"] == [1.0]  # the call reached the bridge
    approvals = await hive.approvals.query()
    if approvals:
        assert [(a.kind, a.agent) for a in approvals] == [("spawn", "carol")]
        assert series["outcome_ok"] == [1.0]
    else:  # approvals are another issue's: until then the bridge refuses, the turn says so
        assert series["outcome_failure"] == [1.0]
    questions = await hive.questions.query()
    assert [q.question for q in questions] == ["ship it?"]
    w1 = [m.body for m in await hive.bus.history("w1") if m.sender == "boss"]
    w2 = [m.body for m in await hive.bus.history("w2") if m.sender == "boss"]
    assert (w1, w2) == (["build it"], ["test it"])  # round-robin, in order
    assert ("boss", "w1: built") in await operator_inbox(hive)
    assert backend.calls == [("stop", "w2"), ("start", "w2")]  # the restart, nothing else
    boss = hive.registry.get("boss")
    assert boss.status == "waiting_operator" and boss.status_detail == "ship it?"
    assert series["received_operator"] == [4.0] and series["received_system"] == [3.0]
    assert series["received_peer"] == [1.0] and series["sent_peer"] == [2.0]
    assert series["tool:mcp__hive__restart"] == [1.0]


async def test_harness_waits_for_the_bridge_and_follows_it_when_it_moves(
        hive: Hive, tmp_path: Path) -> None:
    """Start before any bridge; then the bridge restarts on another port (bridge.json moves)."""
    await hive.registry.create("roam", runtime="scripted:echo", model=MODEL)
    run, state = hive.paths.agent_run("roam"), hive.paths.agent_state("roam")
    (run / "agent.json").write_text(json.dumps({
        "name": "roam", "role": "worker", "runtime": "scripted:echo",
        "settings": {"runtime": "scripted:echo", "model": MODEL},
        "harness": {"reconnect_min_s": 0.05, "reconnect_max_s": 0.2}}))
    (run / "bridge.json").write_text(json.dumps({"url": "http://127.0.0.1:9/mcp"}))
    task = asyncio.create_task(run_harness(run, state, recv_wait_s=1, max_turns=2))
    await asyncio.sleep(0.3)
    assert not task.done()  # still retrying, not dead

    first = Bridge(hive)
    serving = asyncio.create_task(first.run())
    await first.ready()
    (run / "bridge.json").write_text(json.dumps({"url": first.url}))
    await hive.bus.send("operator", "roam", "one")
    await until(lambda: _has(hive, ("roam", "echo: one")))

    await first.aclose()
    await serving
    with socket.socket() as probe:  # another port: a restarted core keeps its port if free
        probe.bind(("127.0.0.1", 0))
        elsewhere = probe.getsockname()[1]
    second = Bridge(hive, port=elsewhere)
    serving = asyncio.create_task(second.run())
    await second.ready()
    assert second.url != first.url
    (run / "bridge.json").write_text(json.dumps({"url": second.url}))
    await hive.bus.send("operator", "roam", "two")
    try:
        assert await asyncio.wait_for(task, 20) == 0
        assert ("roam", "echo: two") in await operator_inbox(hive)
    finally:
        await second.aclose()
        await serving


async def test_a_refused_token_is_final(hive: Hive, bridge: Bridge) -> None:
    run, state = await make_agent(hive, bridge, "nope", "scripted:echo")
    (run / "token").write_text("not-the-token\n")
    with pytest.raises(HarnessError, match=r"refused this agent's bearer token \(HTTP 401\)"):
        await asyncio.wait_for(run_harness(run, state, recv_wait_s=1, max_turns=1), 20)


async def test_sigterm_mid_turn_kills_claude_and_exits_0(hive: Hive, bridge: Bridge,
                                                          tmp_path: Path) -> None:
    proc, fake, _, _ = await _harness_in_a_hanging_turn(hive, bridge, tmp_path, "term",
                                                        "work forever")
    pids = fake.pids()
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    for _ in range(50):
        if not any(_alive(p) for p in pids):
            break
        await asyncio.sleep(0.05)
    assert not any(_alive(p) for p in pids)


async def _harness_in_a_hanging_turn(hive: Hive, bridge: Bridge, tmp_path: Path, name: str,
                                     text: str
                                     ) -> tuple[asyncio.subprocess.Process, FakeClaude, Path,
                                                Path]:
    """A real `hivetui harness` process whose (fake) claude hangs in its first turn."""
    run, state = await make_agent(hive, bridge, name, "claude")
    fake = FakeClaude(tmp_path / "fake", [sc.hang(child=True)])
    await hive.bus.send("operator", name, text)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hivetui", "harness", "--run-dir", str(run),
        "--state-dir", str(state), stderr=asyncio.subprocess.PIPE,
        env={**fake.env, "HIVETUI_CLAUDE_BIN": str(fake.bin),
             "PYTHONPATH": str(Path(__file__).parents[2])})
    await until(lambda: _exists(fake.root / "pids"), 20)
    await until(lambda: _status(hive, name, "in_turn"))
    return proc, fake, run, state


async def _exists(path: Path) -> bool:
    return _nonempty(path)


def _nonempty(path: Path) -> bool:
    return path.exists() and path.read_text().strip() != ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def test_scripted_notes_compaction_through_a_real_run(hive: Hive, bridge: Bridge) -> None:
    run, state = await make_agent(hive, bridge, "nc", "scripted:echo")
    agent = json.loads((run / "agent.json").read_text())
    agent["harness"] = {"notes_compact_bytes": 600}
    (run / "agent.json").write_text(json.dumps(agent))
    old = "# notes of nc (scripted:echo)\n" + "".join(f"- turn {i}: old\n" for i in range(60))
    (state / "notes.md").write_text(old)
    await hive.bus.send("operator", "nc", "hi")
    assert await asyncio.wait_for(run_harness(run, state, recv_wait_s=5, max_turns=1), 20) == 0
    assert (state / "notes.md.bak").read_text() == old
    notes = (state / "notes.md").read_text().splitlines()
    assert notes[0] == "# notes of nc (scripted:echo)"
    assert notes[1].startswith("- (compacted: ") and notes[-1].startswith("- turn 1: 1 message")
    series = await _series(hive, "nc")
    assert series["notes_bytes"] == [float(len((state / "notes.md").read_bytes()))]
    assert series["notes_bytes"][0] < 600


async def test_a_harness_killed_mid_turn_gets_the_message_again(hive: Hive, bridge: Bridge,
                                                                 tmp_path: Path) -> None:
    """At least once: kill -9 during a turn; the next harness handles the same message."""
    proc, fake, run, state = await _harness_in_a_hanging_turn(hive, bridge, tmp_path, "redo",
                                                              "do not lose me")
    proc.kill()  # the whole harness dies mid-turn, nothing acknowledged
    await proc.wait()
    for pid in fake.pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert hive.bus.depth("redo") == 1  # still in the inbox
    agent = json.loads((run / "agent.json").read_text())
    agent["runtime"] = "scripted:echo"  # the restarted agent's turn succeeds this time
    (run / "agent.json").write_text(json.dumps(agent))
    assert await asyncio.wait_for(run_harness(run, state, recv_wait_s=2, max_turns=1), 20) == 0
    assert ("redo", "echo: do not lose me") in await operator_inbox(hive)
    assert hive.bus.depth("redo") == 0
