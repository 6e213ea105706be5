"""Deterministic hives for snapshot tests, screenshots and the TUI benchmark.

A real ``Hive`` (real sqlite) on a given state dir, filled with agents, messages and
telemetry at fixed timestamps, and a frozen clock. The containers are the one thing this
cannot have for real: :class:`FakeFixtureBackend` keeps them in memory, records every
call and serves canned logs (it follows the ``ContainerBackend`` contract of
``hivetui.core.ports``). The hive's periodic sampler is switched off so that no sample
carries the real time.

``NOW`` lies in the future on purpose: ``api.stats`` counts its window back from the
real clock, so samples before the frozen ``NOW`` stay inside it on any machine.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hivetui.core.errors import ContainerError
from hivetui.core.hive import Hive
from hivetui.core.names import OPERATOR, SYSTEM
from hivetui.core.operator import Operator, OperatorSession
from hivetui.core.ports import ContainerExit, ContainerSpec
from hivetui.core.transcript_format import call_event, result_event
from hivetui.tui.app import HiveApp, create_app

NOW = 2_064_052_800.0  # 2035-05-29 12:00:00 UTC, the frozen "now" of every fixture
T0 = NOW - 6 * 3600


def frozen_clock() -> float:
    return NOW


class FakeFixtureBackend:
    """In-memory containers: records calls, serves canned logs, follows a queue."""

    name = "fake-fixture"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.live: set[str] = set()
        self.specs: dict[str, ContainerSpec] = {}
        self.log_lines: dict[str, list[str]] = {}
        self._followers: dict[str, list[asyncio.Queue[str]]] = {}
        self._exits: asyncio.Queue[ContainerExit] = asyncio.Queue()

    async def create(self, spec: ContainerSpec) -> None:
        self.calls.append(("create", spec.name))
        self.specs[spec.name] = spec

    async def start(self, name: str) -> None:
        self.calls.append(("start", name))
        self.live.add(name)

    async def stop(self, name: str) -> None:
        self.calls.append(("stop", name))
        if name in self.live:
            self.live.discard(name)
            self._exits.put_nowait(ContainerExit(name, 0))

    async def restart(self, name: str) -> None:
        self.calls.append(("restart", name))
        self.live.add(name)

    async def destroy(self, name: str) -> None:
        self.calls.append(("destroy", name))
        self.live.discard(name)
        self.specs.pop(name, None)

    async def rebuild(self, spec: ContainerSpec) -> None:
        self.calls.append(("rebuild", spec.name))
        self.specs[spec.name] = spec

    async def running(self) -> set[str]:
        return set(self.live)

    def shell_argv(self, name: str) -> list[str]:
        if name not in self.live:
            raise ContainerError(f"h-{name} is not running: start it to open a shell")
        return ["/bin/sh", "-c", f"echo 'fake shell of h-{name}'; exec /bin/sh"]

    async def logs(self, name: str, lines: int) -> list[str]:
        return self.log_lines.get(name, [])[-lines:]

    def emit_log(self, name: str, line: str) -> None:
        """A new log line from ``name``'s container (what ``follow_logs`` yields)."""
        self.log_lines.setdefault(name, []).append(line)
        for queue in self._followers.get(name, []):
            queue.put_nowait(line)

    async def follow_logs(self, name: str) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._followers.setdefault(name, []).append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._followers[name].remove(queue)

    def exits(self) -> AsyncIterator[ContainerExit] | None:
        return None

    async def aclose(self) -> None:
        self.live.clear()


@dataclass(frozen=True)
class FixtureAgent:
    name: str
    role: str = "worker"
    model: str = "claude-sonnet-4-5"
    state: str = "running"
    status: str = "idle"
    detail: str = ""
    last_turn_ago: float | None = 60.0
    override: str | None = None
    crash_looping: bool = False
    rate: float = 1.0  # turns per minute, roughly


AGENTS = (
    FixtureAgent("boss", "manager", "claude-opus-4-1", last_turn_ago=42, rate=2.5,
                 detail="coordinating 11 workers"),
    FixtureAgent("alice", status="in_turn", detail="running pytest -q tests/unit",
                 last_turn_ago=15, rate=3.0),
    FixtureAgent("bob", status="waiting_operator", last_turn_ago=190,
                 detail="asked: may I bump the lockfile? (question #1)"),
    FixtureAgent("carol", state="crashed", status="offline", last_turn_ago=420, rate=1.5,
                 detail="exit status 137 (killed)"),
    FixtureAgent("dave", state="crashed", status="offline", crash_looping=True,
                 last_turn_ago=720, detail="3 crashes in 300s"),
    FixtureAgent("erin", state="stopped", status="offline", last_turn_ago=7300, rate=0.5),
    FixtureAgent("frank", override="claude-haiku-4-5", last_turn_ago=75, rate=4.0),
    FixtureAgent("gus", state="created", status="offline", last_turn_ago=None, rate=0),
    FixtureAgent("w-01", last_turn_ago=33, rate=1.2),
    FixtureAgent("w-02", status="in_turn", detail="refactoring bus.py", last_turn_ago=8,
                 rate=2.0),
    FixtureAgent("w-03", last_turn_ago=610, rate=0.3),
    FixtureAgent("w-04", model="claude-opus-4-1", last_turn_ago=1900, rate=0.8),
)

MESSAGES = (
    ("boss", "alice", "Please take issue #12: flaky test in test_bus.py."),
    ("alice", "boss", "On it. Reproduced with -p no:randomly; a race in recv()."),
    (OPERATOR, "alice", "Keep the fix small and add a regression test."),
    ("boss", "bob", "Bump the lockfile and run the whole suite."),
    ("bob", "boss", "Need the operator's OK for the lockfile change."),
    ("alice", "bob", "FYI: test_bus is green again on my branch."),
    (SYSTEM, "boss", '{"event": "container_crash", "agent": "carol", "exit_status": 137}'),
    ("boss", "carol", "You crashed (137). Restarting you; please resume issue #9."),
    (OPERATOR, "bob", "Lockfile bump approved, go ahead."),
)


def _log_lines(name: str) -> list[str]:
    rng = random.Random(f"logs-{name}")
    out = []
    for i in range(60):
        stamp = time.strftime("%H:%M:%S", time.gmtime(NOW - 3600 + i * 55))
        pick = rng.random()
        if pick < 0.1:
            out.append(f"{stamp} ERROR turn {i}: tool Bash(pytest) exited 1")
        elif pick < 0.25:
            out.append(f"{stamp} WARN  inbox depth {rng.randint(3, 9)} above 2")
        else:
            out.append(f"{stamp} INFO  turn {i} ok in {rng.uniform(2, 40):.1f}s, "
                       f"{rng.randint(0, 12)} tool calls")
    return out


FIXTURE_DIFF = """\
diff --git a/settings.toml b/settings.toml
index 3b18e51..9f2c4a7 100644
--- a/settings.toml
+++ b/settings.toml
@@ -1,5 +1,5 @@
 runtime = "claude"
-model = "claude-sonnet-4-5"
+model = "claude-opus-4-1"
 private_users = true
-allowed_tools = ["Read", "Edit", "Bash(git *)", "mcp__hive"]
+allowed_tools = ["Read", "Edit", "Bash(git *)", "Bash(npm test)", "mcp__hive"]
 packages = []
diff --git a/prompt.md b/prompt.md
index 1f0c2d3..8e4b5a6 100644
--- a/prompt.md
+++ b/prompt.md
@@ -1,2 +1,3 @@
 You are bob, the hive's dependency keeper.
 Keep the lockfile current; ask before major bumps.
+Run the test suite after every bump.
"""


def _call(call_id: str, name: str, **args: Any) -> dict[str, Any]:
    return call_event(call_id, name, args, 0.0)


def _said(text: str) -> dict[str, Any]:
    return {"kind": "text", "text": text}


BUS_SOURCE = "\n".join(f"{i:>4}  # hivetui/core/bus.py line {i}" for i in range(1, 1400))
#: alice's turns: one ended (with its cost), one still running a Bash command
TRANSCRIPT_TURNS: tuple[tuple[float, list[dict[str, Any]]], ...] = (
    (NOW - 400, [
        {"kind": "prompt", "model": "claude-sonnet-4-5", "messages": [1],
         "text": "You have 1 new message(s) on the hive bus.\n\n[message 1 from boss "
                 "(manager)]\nPlease take issue #12: flaky test in test_bus.py.\n"},
        _said("I'll reproduce the flake first, then look at recv()."),
        _call("c1", "Bash", command="pytest -p no:randomly tests/test_bus.py -q"),
        result_event("c1", "F....\n1 failed, 41 passed in 3.2s", False, 0.0),
        _call("c2", "Read", file_path="/state/work/hivetui/core/bus.py"),
        result_event("c2", BUS_SOURCE, False, 0.0),
        _call("c3", "Edit", file_path="/state/work/hivetui/core/bus.py",
              old_string="        waiter = self._waiters[name]",
              new_string="        waiter = self._waiters.get(name)\n        if waiter is None:\n"
                         "            return []"),
        result_event("c3", "The file /state/work/hivetui/core/bus.py has been updated.",
                     False, 0.0),
        _call("c4", "mcp__hive__send", to="boss",
              body="On it. Reproduced with -p no:randomly; a race in recv()."),
        result_event("c4", '{"id": 2, "depth": 1}', False, 0.0),
        {"kind": "end", "outcome": "ok", "duration_s": 48.2, "cost_usd": 0.1342,
         "tokens_in": 18204, "tokens_out": 1532, "cache_read": 90112, "cache_write": 0},
    ]),
    (NOW - 12, [
        {"kind": "prompt", "model": "claude-sonnet-4-5", "messages": [3],
         "text": "You have 1 new message(s) on the hive bus.\n\n[message 3 from operator "
                 "(operator)]\nKeep the fix small and add a regression test.\n"},
        _said("Adding a regression test for the recv() race."),
        _call("c5", "Write", file_path="/state/work/tests/test_bus_race.py",
              content="\n".join(f"line {i}" for i in range(24))),
        result_event("c5", "File created successfully at: /state/work/tests/test_bus_race.py",
                     False, 0.0),
        _call("c6", "Bash", command="pytest -q tests/unit"),
    ]),
)


async def populate_transcripts(hive: Hive) -> None:
    """alice's transcript at fixed times; the core's clock is set back to ``NOW`` after."""
    for index, (when, events) in enumerate(TRANSCRIPT_TURNS):
        hive.transcripts.clock = lambda when=when: when
        await hive.transcripts.ingest("alice", f"fixture:{index}", events)
    hive.transcripts.clock = frozen_clock
    await hive.transcripts.flush()


async def populate(hive: Hive, agents: tuple[FixtureAgent, ...] = AGENTS,
                   backend: FakeFixtureBackend | None = None) -> None:
    """Fill ``hive`` with ``agents``, their messages, telemetry and logs (all fixed)."""
    for index, spec in enumerate(agents):
        await hive.registry.create(spec.name, role=spec.role, runtime="claude",
                                   model=spec.model)
        await hive.registry.update(
            spec.name, state=spec.state, status=spec.status, status_detail=spec.detail,
            crash_looping=spec.crash_looping, model_override=spec.override,
            created_at=T0 + index * 60,
            last_turn_at=None if spec.last_turn_ago is None else NOW - spec.last_turn_ago)
        if backend is not None:
            backend.log_lines[spec.name] = _log_lines(spec.name)
            if spec.state == "running":
                backend.live.add(spec.name)
    for index, (sender, recipient, body) in enumerate(MESSAGES):
        message = await hive.bus.send(sender, recipient, body)
        await hive.store.execute("UPDATE messages SET created_at = ? WHERE id = ?",
                                 (NOW - 1800 + index * 150, message.id))
    question = await hive.questions.ask(
        "boss", "bob wants to bump the lockfile (new pytest). Allow it?",
        ["yes", "no", "after the release"])
    await hive.store.execute("UPDATE questions SET created_at = ? WHERE id = ?",
                             (NOW - 190, question.id))
    # one config change waiting for the operator (a fixed row: the diff a request carries)
    await hive.store.execute(
        "INSERT INTO approvals (kind, agent, commit_sha, diff, detail, requested_by, "
        "created_at) VALUES (?,?,?,?,?,?,?)",
        ("apply_commit", "bob", "4c1d9e07a2b35f6e8d9c0b1a2f3e4d5c6b7a8f90", FIXTURE_DIFF, "",
         "boss", NOW - 240))
    _telemetry(hive, agents)
    await hive.telemetry.flush()
    if any(spec.name == "alice" for spec in agents):
        await populate_transcripts(hive)


def _telemetry(hive: Hive, agents: tuple[FixtureAgent, ...]) -> None:
    for spec in agents:
        if not spec.rate:
            continue
        rng = random.Random(f"telemetry-{spec.name}")
        p50 = rng.uniform(8, 20)
        for minute in range(60, 0, -1):
            ts = NOW - minute * 60
            turns = max(0.0, spec.rate + rng.uniform(-1, 1) * spec.rate * 0.6)
            p50 = max(1.0, p50 + rng.uniform(-2, 2))
            values: dict[str, float] = {
                "turns_per_min": round(turns, 2),
                "turn_duration_p50_s": round(p50, 1),
                "turn_duration_p95_s": round(p50 * rng.uniform(1.5, 2.5), 1),
                "tool_calls": rng.randint(0, 14),
                "inbox_depth": rng.randint(0, 6),
                "outcome_ok": 1 if rng.random() > 0.1 else 0,
            }
            if rng.random() < 0.08:
                values["outcome_failure"] = 1
            if rng.random() < 0.05:
                values["outcome_compact_retry"] = 1
            hive.telemetry.record(spec.name, values, ts)


async def _no_sampler(interval_s: float = 10.0) -> None:
    """Stands in for the metrics sampler: fixture samples carry fixed times only."""
    await asyncio.Event().wait()


def fixture_app(state_dir: Path, *, read_only: bool = False, **options: Any) -> HiveApp:
    """The app over a fixture hive it opens on mount and closes on exit (``read_only``:
    a session whose changes are refused, as an SSH key with ``hivetui-read-only``)."""
    backend = FakeFixtureBackend()
    hive = Hive(state_dir, backend=backend)
    hive.metrics.run = _no_sampler  # type: ignore[method-assign]
    api = OperatorSession(hive, Operator("ssh:viewer" if read_only else "local:operator",
                                         read_only=read_only))

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with hive:
            await populate(hive, backend=backend)
            yield

    options.setdefault("clock", frozen_clock)
    options.setdefault("where", "fixture")
    options.setdefault("bell", False)
    app = create_app(api, lifespan=lifespan, **options)
    app.fixture_backend = backend  # type: ignore[attr-defined]
    return app


async def settle(app: HiveApp, timeout: float = 10.0) -> None:
    """Wait until the app has no pending refresh, sparkline fetch, chart or history load."""
    from hivetui.tui.screens.fleet import FleetScreen

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    calm = 0
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        busy = app.pump.busy or any(
            not worker.is_finished and worker.group not in ("pump", "follow")
            for worker in app.workers)
        for screen in app.screen_stack:
            if isinstance(screen, FleetScreen) and screen.sparks_busy:
                busy = True
        calm = 0 if busy else calm + 1
        if calm >= 3:
            return
