"""The turn loop with a recording fake of the bridge client (the runtimes are real)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from hivetui.core.errors import HarnessError
from hivetui.core.settings import AgentSettings
from hivetui.harness.claude import ClaudeRuntime
from hivetui.harness.client import BridgeUnreachable, InboxMessage, Status, TurnReport
from hivetui.harness.loop import LoopConfig, TurnLoop, resolve_model
from hivetui.harness.runtime import AgentIdentity, TurnContext, TurnResult
from hivetui.harness.scripted import compact_lines
from tests.fakes.claude import scenarios as sc
from tests.fakes.claude.scenarios import FakeClaude

AGENT = AgentIdentity(name="alice", role="worker", runtime="claude",
                  settings=AgentSettings(model="m-settings"))


def msg(i: int, sender: str = "operator", kind: str = "operator", body: str = "hi") -> InboxMessage:
    return InboxMessage(
        id=i, sender=sender, recipient="alice", kind=kind, body=body, ts=time.time()
    )


class RecordingHive:
    """A fake of the bridge client: scripted recv batches and settings; records every call."""

    def __init__(self, batches: Iterable[list[InboxMessage]],
                 settings: Iterable[dict[str, Any]] = ()) -> None:
        self.batches = list(batches)
        self.settings = list(settings)
        self.calls: list[tuple[str, Any]] = []
        self.acks: list[int | None] = []
        self.fail_recv = 0
        self.reconnects = 0
        self.transcripts: list[tuple[str, dict[str, Any]]] = []

    async def recv(self, wait_s: float = 0.0, max: int = 20, ack: int | None = None
                   ) -> list[InboxMessage]:
        self.calls.append(("recv", wait_s))
        self.acks.append(ack)
        if self.fail_recv:
            self.fail_recv -= 1
            raise BridgeUnreachable("bridge unreachable during recv: connection refused")
        if not self.batches:
            await asyncio.sleep(0.01)
            return []
        return self.batches.pop(0)

    async def send(self, to: str, body: str) -> dict[str, Any]:
        self.calls.append(("send", (to, body)))
        return {"id": 1, "depth": 1}

    async def ack(self, upto: int) -> None:
        self.calls.append(("ack", upto))
        self.acks.append(upto)

    async def set_status(self, status: Status, detail: str = "") -> None:
        self.calls.append(("set_status", (status, detail)))

    async def report_turn(self, report: TurnReport) -> None:
        self.calls.append(("report_turn", report))

    async def get_settings(self) -> dict[str, Any]:
        self.calls.append(("get_settings", None))
        current = self.settings.pop(0) if len(self.settings) > 1 else \
            (self.settings[0] if self.settings else {})
        return {"model": "m-settings", "model_override": None, **current}

    async def transcript(self, turn_key: str, events: list[dict[str, Any]]) -> None:
        self.transcripts.extend((turn_key, e) for e in events)

    async def reconnect(self) -> None:
        self.reconnects += 1

    def reports(self) -> list[TurnReport]:
        return [a for n, a in self.calls if n == "report_turn"]

    def statuses(self) -> list[tuple[str, str]]:
        return [a for n, a in self.calls if n == "set_status"]


class RecordingRuntime:
    name = "recording"

    def __init__(self, results: list[TurnResult] | None = None) -> None:
        self.contexts: list[TurnContext] = []
        self.results = results or []
        self.compactions: list[tuple[int, str]] = []
        self.compact_with: str | Exception = "# notes\n- compacted\n"

    async def run_turn(self, ctx: TurnContext) -> TurnResult:
        self.contexts.append(ctx)
        if self.results:
            return self.results.pop(0)
        return TurnResult(outcome="ok")

    async def compact_notes(self, notes: str, limit_bytes: int, model: str) -> str:
        self.compactions.append((limit_bytes, model))
        if isinstance(self.compact_with, Exception):
            raise self.compact_with
        return self.compact_with

    async def aclose(self) -> None:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (re)parent to reap it is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def test_turn_timeout_kills_the_process_group_and_counts_failure(tmp_path: Path) -> None:
    fake = FakeClaude(tmp_path / "fake", [sc.hang(child=True)])
    state = tmp_path / "state"
    state.mkdir()
    rt = ClaudeRuntime(AGENT, bridge_url="http://127.0.0.1:9/mcp", token="t", state_dir=state,
                       claude_bin=str(fake.bin), env=fake.env)
    hive = RecordingHive([[msg(1)]])
    loop = TurnLoop(hive, rt, AGENT, state, LoopConfig(turn_timeout_s=1.5, max_turns=1))
    t0 = time.monotonic()
    assert await loop.run() == 0
    assert time.monotonic() - t0 < 6
    [report] = hive.reports()
    assert report.outcome == "failure"
    assert "turn timed out after 1.5s; runtime killed" in report.detail
    assert 1.5 <= report.duration_s < 5
    pids = fake.pids()
    assert len(pids) == 2  # the fake claude and its grandchild `sleep`
    for _ in range(50):
        if not any(_alive(p) for p in pids):
            break
        await asyncio.sleep(0.05)
    assert not any(_alive(p) for p in pids)
    assert hive.statuses()[-1][0] == "idle"


async def test_turn_reports_counts_by_kind_and_statuses(tmp_path: Path) -> None:
    result = TurnResult(outcome="ok", cost_usd=0.5)
    result.tool_calls.update({"mcp__hive__send": 3, "Bash": 1})
    result.sent_to.update({"boss": 1, "operator": 1, "bob": 1})
    hive = RecordingHive([[msg(1), msg(2, "boss", "manager"), msg(3, "bob", "peer"),
                           msg(4, "system", "system", '{"event": "agent_started"}')]])
    rt = RecordingRuntime([result])
    loop = TurnLoop(hive, rt, AGENT, tmp_path, LoopConfig(max_turns=1))
    await loop.run()
    [report] = hive.reports()
    assert report.received == {"peer": 1, "operator": 1, "manager": 1, "system": 1}
    assert report.sent == {"peer": 1, "operator": 1, "manager": 1}
    assert report.tool_calls == {"Bash": 1, "mcp__hive__send": 3}
    assert report.outcome == "ok" and report.cost_usd == 0.5
    assert [s for s, _ in hive.statuses()] == ["idle", "in_turn", "idle"]
    assert "4 message(s) from operator, boss, bob, system" in hive.statuses()[1][1]


async def test_runtime_error_is_a_failed_turn_and_the_loop_goes_on(tmp_path: Path) -> None:
    class Failing(RecordingRuntime):
        async def run_turn(self, ctx: TurnContext) -> TurnResult:
            await super().run_turn(ctx)
            if ctx.turn_no == 1:
                raise HarnessError("MCP server hive failed at init")
            return TurnResult(outcome="ok")

    hive = RecordingHive([[msg(1)], [msg(2)]])
    await TurnLoop(hive, Failing(), AGENT, tmp_path,
                   LoopConfig(max_turns=2, retry_backoff_s=0)).run()
    assert [r.outcome for r in hive.reports()] == ["failure", "ok"]
    assert "MCP server hive failed at init" in hive.reports()[0].detail


async def test_exit_status_and_waiting_operator(tmp_path: Path) -> None:
    hive = RecordingHive([[msg(1)], [msg(2)]])
    rt = RecordingRuntime([TurnResult(outcome="ok", waiting_operator="deploy now?"),
                           TurnResult(outcome="ok", exit_status=3)])
    assert await TurnLoop(hive, rt, AGENT, tmp_path).run() == 3
    assert ("waiting_operator", "deploy now?") in hive.statuses()
    assert len(hive.reports()) == 2


async def test_bridge_unreachable_backs_off_and_reconnects(tmp_path: Path) -> None:
    hive = RecordingHive([[msg(1)]])
    hive.fail_recv = 1
    loop = TurnLoop(hive, RecordingRuntime(), AGENT, tmp_path,
                    LoopConfig(max_turns=1, reconnect_min_s=0.01))
    await loop.run()
    assert hive.reconnects == 1 and len(hive.reports()) == 1


async def test_notes_compaction_writes_bak_and_rewrites_in_place(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    old = "# notes\n" + "- a long line of notes\n" * 100
    notes.write_text(old)
    hive = RecordingHive([[msg(1)], [msg(2)]])
    rt = RecordingRuntime()
    loop = TurnLoop(hive, rt, AGENT, tmp_path, LoopConfig(notes_compact_bytes=1000, max_turns=2))
    await loop.run()
    assert (tmp_path / "notes.md.bak").read_text() == old
    assert notes.read_text() == "# notes\n- compacted\n"
    assert rt.compactions == [(1000, "m-settings")]  # once: the second turn is under the limit
    first, second = hive.reports()
    assert first.notes_bytes == len("# notes\n- compacted\n")
    assert f"notes compacted {len(old)} -> 20 bytes" in first.detail
    assert "compacting notes" in hive.statuses()[1][1]
    assert "compacted" not in second.detail


async def test_failed_notes_compaction_keeps_the_notes(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    old = "# notes\n" + "x" * 2000 + "\n"
    notes.write_text(old)
    hive = RecordingHive([[msg(1)]])
    rt = RecordingRuntime()
    rt.compact_with = HarnessError("notes compaction run failed: boom")
    await TurnLoop(hive, rt, AGENT, tmp_path, LoopConfig(notes_compact_bytes=1000,
                                                         max_turns=1)).run()
    assert notes.read_text() == old
    assert "notes compaction failed: notes compaction run failed: boom" in \
        hive.reports()[0].detail
    assert hive.reports()[0].outcome == "ok"


async def test_notes_compaction_with_the_claude_runtime(tmp_path: Path) -> None:
    fake = FakeClaude(tmp_path / "fake", [sc.notes_rewrite("# notes\n- short\n"),
                                          sc.simple_ok()])
    state = tmp_path / "state"
    state.mkdir()
    old = "# notes\n" + "- detail\n" * 300
    (state / "notes.md").write_text(old)
    rt = ClaudeRuntime(AGENT, bridge_url="http://127.0.0.1:9/mcp", token="t", state_dir=state,
                       claude_bin=str(fake.bin), env=fake.env)
    hive = RecordingHive([[msg(1)]])
    await TurnLoop(hive, rt, AGENT, state, LoopConfig(notes_compact_bytes=1024,
                                                      max_turns=1)).run()
    assert (state / "notes.md").read_text() == "# notes\n- short\n"
    assert (state / "notes.md.bak").read_text() == old
    turn_call = fake.calls()[1]
    prompt = turn_call["argv"][turn_call["argv"].index("--append-system-prompt") + 1]
    assert prompt.endswith("# notes\n- short")  # the turn sees the compacted notes


def test_scripted_compaction_is_deterministic() -> None:
    notes = "# notes of w\n" + "".join(f"- turn {i}: ok\n" for i in range(1, 200))
    once = compact_lines(notes, 400)
    assert once == compact_lines(notes, 400)
    assert len(once.encode()) <= 200
    assert once.startswith("# notes of w\n- (compacted: ")
    assert once.endswith("- turn 199: ok\n")


@pytest.mark.parametrize(("settings", "file_model", "expected"), [
    ({"model": "m-settings", "model_override": None}, None, "m-settings"),
    ({"model": "m-settings", "model_override": None}, "m-file", "m-file"),
    ({"model": "m-settings", "model_override": "m-op"}, "m-file", "m-op"),
    ({"model": "m-settings", "model_override": "m-op"}, None, "m-op"),
    ({}, None, "m-default"),
])
def test_model_precedence(settings: dict[str, Any], file_model: str | None,
                          expected: str) -> None:
    assert resolve_model(settings, file_model, "m-default") == expected


async def test_model_override_applies_from_the_next_turn(tmp_path: Path) -> None:
    (tmp_path / "model").write_text("m-file\n")
    hive = RecordingHive([[msg(1)], [msg(2)], [msg(3)]],
                         settings=[{}, {"model_override": "m-op"}, {"model_override": None}])
    rt = RecordingRuntime()
    await TurnLoop(hive, rt, AGENT, tmp_path, LoopConfig(max_turns=3)).run()
    assert [c.model for c in rt.contexts] == ["m-file", "m-op", "m-file"]
    assert "model=m-op" in hive.reports()[1].detail
    # get_settings is asked before each turn, never cached
    names = [n for n, _ in hive.calls]
    assert names.count("get_settings") == 3


async def test_loop_acknowledges_handled_messages_and_remembers_across_restarts(
        tmp_path: Path) -> None:
    msgs = [InboxMessage(id=7, sender="operator", recipient="a", kind="operator", body="x",
                    ts=1.0),
            InboxMessage(id=9, sender="operator", recipient="a", kind="operator", body="y",
                    ts=2.0)]
    client = RecordingHive([msgs])
    loop = TurnLoop(client, RecordingRuntime(), AGENT, tmp_path,
                    LoopConfig(max_turns=1, recv_wait_s=0))
    assert loop.acked == 0
    await loop.run()
    assert client.acks[0] == 0  # nothing handled yet: the bus keeps the batch leased
    assert loop.acked == 9
    assert (tmp_path / ".hive" / "recv_ack").read_text().strip() == "9"
    # a new harness (after a crash or restart) starts from what was handled
    again = TurnLoop(RecordingHive([]), RecordingRuntime(), AGENT, tmp_path,
                     LoopConfig(max_turns=0))
    assert again.acked == 9


@pytest.mark.parametrize("failure", ["result", "timeout", "error"])
async def test_a_failed_turn_acknowledges_nothing_and_names_its_messages(
        tmp_path: Path, failure: str) -> None:
    class Failing(RecordingRuntime):
        async def run_turn(self, ctx: TurnContext) -> TurnResult:
            await super().run_turn(ctx)
            if ctx.turn_no == 1 and failure == "timeout":
                await asyncio.sleep(5)
            if ctx.turn_no == 1 and failure == "error":
                raise HarnessError("cannot run 'claude': not found")
            if ctx.turn_no == 1:
                return TurnResult(outcome="failure", detail="exit 1; denied: Bash(rm)",
                                  failure="API Error: 529 Overloaded")
            return TurnResult(outcome="ok", model="claude-opus-4-8")

    batch = [msg(7), msg(9)]
    hive = RecordingHive([batch, batch])  # the bus hands the unacknowledged batch out again
    loop = TurnLoop(hive, Failing(), AGENT, tmp_path,
                    LoopConfig(max_turns=2, recv_wait_s=0, turn_timeout_s=0.5,
                               retry_backoff_s=0))
    await loop.run()
    failed, ok = hive.reports()
    assert failed.outcome == "failure" and failed.messages == (7, 9)
    reason = {"result": "API Error: 529 Overloaded", "timeout": "turn timed out after 0.5s",
              "error": "cannot run 'claude': not found"}[failure]
    assert failed.failure.startswith(reason)
    assert hive.acks[:2] == [0, 0]  # the second turn's recv acknowledged nothing
    assert hive.acks[-1] == 9 and loop.acked == 9  # the turn that ended ok did
    statuses = [d for s, d in hive.statuses()]
    assert statuses[2].startswith(reason) and "(last turn failed after" in statuses[2]
    assert f"; retrying after: {reason}" in statuses[3]  # the next turn's in_turn status
    # the model the runtime ran beside the one asked for
    assert statuses[-1].endswith("[model claude-opus-4-8 (asked m-settings)]")
    assert "model=claude-opus-4-8 (asked m-settings)" in ok.detail


async def test_failed_turns_back_off_doubling_until_one_ends_ok(tmp_path: Path) -> None:
    outcomes = ["failure", "failure", "ok", "failure"]
    started: list[float] = []

    class Scripted(RecordingRuntime):
        async def run_turn(self, ctx: TurnContext) -> TurnResult:
            started.append(time.monotonic())
            return TurnResult(outcome=outcomes[ctx.turn_no - 1])  # type: ignore[arg-type]

    waits: list[float] = []

    class Recording(TurnLoop):
        def retry_delay(self) -> float:
            waits.append(super().retry_delay())
            return waits[-1]

    hive = RecordingHive([[msg(1)]] * 3 + [[msg(2)]])
    loop = Recording(hive, Scripted(), AGENT, tmp_path,
                     LoopConfig(max_turns=4, recv_wait_s=0, retry_backoff_s=0.2))
    await loop.run()
    # about 0.2 s, then about doubled (jittered down by at most half); none after the turn
    # that ended ok, none after the last turn
    assert len(waits) == 2 and 0.1 <= waits[0] <= 0.2 and 0.2 <= waits[1] <= 0.4
    assert started[1] - started[0] >= waits[0] and started[2] - started[1] >= waits[1]
    assert loop.failures == 1
    assert LoopConfig().retry_backoff_s == 10.0
    capped = TurnLoop(hive, Scripted(), AGENT, tmp_path, LoopConfig(retry_backoff_s=10))
    capped.failures = 9
    assert 150.0 <= capped.retry_delay() <= 300.0
