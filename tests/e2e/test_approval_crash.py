"""Approvals survive a core killed at any instant: kill -9 of a real `hivetui serve` (real
local containers, sqlite, git) at random points of spawn, spawn_commit and apply_commit,
then a restart; and the same right after each recorded step (the core's fault-injection
point, ``HIVETUI_TEST_CRASH_AFTER_STEP``). After every round the hive must be consistent:
nothing half-applied (agent record, container, applied ref, state and draft dirs, review
pin all agree with the approval's outcome) and nothing untold (the manager got exactly one
``approval_resolved``, with that outcome)."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hivetui.containers import procinfo
from hivetui.control.client import ControlClient
from hivetui.core.approval_run import CRASH_AFTER_STEP_ENV
from hivetui.core.hive import Hive
from hivetui.harness.client import HiveClient
from tests.functional.test_approvals_fakes import commit_change, set_model
from tests.serve_util import ForkServer, alive

pytestmark = pytest.mark.slow

KINDS = ("spawn", "spawn_commit", "apply_commit")
STEPS = ("approved", "config_applied", "container_built", "started", "manager_told")
NOTES = "notes the manager prepared\n"
ROUNDS_PER_KIND = 17  # 51 kills in all


@dataclass
class Round:
    kind: str
    name: str  # the agent the approval is about
    approval: int
    commit: str
    model_before: str  # apply_commit: alice's model before the request


@dataclass
class Lab:
    """One hive under test: its state dir, the fork server, the core that runs now."""

    state: Path
    forks: ForkServer
    token: str
    pid: int = 0
    url: str = ""
    durations: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 1.0))

    async def start(self, env: dict[str, str] | None = None) -> None:
        self.pid = self.forks.serve(self.state, env)
        self.url = await self.forks.wait_serving(self.pid, self.state)

    @asynccontextmanager
    async def ctl(self) -> AsyncIterator[ControlClient]:
        async with await ControlClient.connect(self.state / "run" / "control.sock") as c:
            yield c

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.state / 'hive.sqlite3'}?mode=ro", uri=True)

    def alice_model(self) -> str:
        with self.db() as db:
            return str(db.execute("SELECT model FROM agents WHERE name = 'alice'").fetchone()[0])

    async def request(self, kind: str, i: int) -> Round:
        name = {"spawn": "s", "spawn_commit": "d", "apply_commit": "x"}[kind] + str(i)
        async with HiveClient(self.url, self.token) as boss:
            if kind == "spawn":
                a = await boss.request_spawn(name, "scripted:echo")
                return Round(kind, name, a["id"], a["commit"], "")
            if kind == "spawn_commit":
                await boss.request_spawn_draft(name)
                config = self.state / "agents" / name / "config"
                settings = (config / "settings.toml").read_text()
                commit_change(config, {"settings.toml": settings.replace(
                    'runtime = "claude"', 'runtime = "scripted:echo"')})
                (self.state / "agents" / name / "state" / "notes.md").write_text(NOTES)
                a = await boss.request_spawn_commit(name, "HEAD")
                return Round(kind, name, a["id"], a["commit"], "")
            before = self.alice_model()
            config = self.state / "agents" / "alice" / "config"
            settings = (config / "settings.toml").read_text()
            sha = commit_change(config, {"settings.toml": set_model(settings, f"model-{i}")})
            a = await boss.request_apply_commit("alice", sha)
            return Round(kind, "alice", a["id"], a["commit"], before)

    async def approve(self, approval: int) -> float:
        start = time.monotonic()
        async with self.ctl() as c:
            await c.approve(approval)
        return time.monotonic() - start


async def _lab(tmp_path: Path, forks: ForkServer) -> Lab:
    state = tmp_path / "state"
    async with Hive(state) as hive:  # a manager without a container: its inbox is the record
        await hive.registry.create("boss", role="manager", runtime="scripted:manager",
                                   model="m")
    lab = Lab(state, forks, (state / "secrets" / "boss" / "token").read_text().strip())
    await lab.start()
    async with lab.ctl() as c:  # a running worker whose config the manager changes
        await c.spawn("alice", "scripted:echo")
    return lab


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=False, env={"GIT_CONFIG_NOSYSTEM": "1",
                                            "GIT_CONFIG_GLOBAL": "/dev/null",
                                            "PATH": "/usr/bin:/bin"})
    return done.stdout.strip() if done.returncode == 0 else ""


def _container_runs(state: Path, name: str) -> bool:
    try:
        info = json.loads((state / "containers" / name / "supervisor" /
                           "container.json").read_text())
    except FileNotFoundError:
        return False
    return procinfo.is_alive(int(info["pid"]), int(info["start"]))


def _check(lab: Lab, r: Round) -> str:
    """Assert the hive agrees with approval ``r``'s outcome; the outcome."""
    state = lab.state
    with lab.db() as db:
        outcome, reason = db.execute("SELECT state, reason FROM approvals WHERE id = ?",
                                     (r.approval,)).fetchone()
        steps = {s for (s,) in db.execute(
            "SELECT step FROM approval_steps WHERE approval_id = ?", (r.approval,))}
        told = [json.loads(b) for (b,) in db.execute(
            "SELECT body FROM messages WHERE recipient = 'boss' AND sender = 'system'")]
        row = db.execute("SELECT state, model FROM agents WHERE name = ? AND state != "
                         "'destroyed'", (r.name,)).fetchone()
    where = f"approval #{r.approval} ({r.kind} {r.name}, {outcome}: {reason}; steps {steps})"
    assert outcome in ("approved", "failed"), f"unresolved: {where}"
    assert {"manager_told", "pin_removed"} <= steps, f"unfinished: {where}"
    resolved = [e for e in told
                if e["event"] == "approval_resolved" and e["id"] == r.approval]
    assert [e["result"] for e in resolved] == [outcome], f"told {resolved}: {where}"
    assert not [e for e in told if e["event"] == "container_crash"], f"false crash: {where}"
    repo = state / "repos" / f"{r.name}.git"
    assert not _git(repo, "for-each-ref", f"refs/hive/approvals/{r.approval}"), \
        f"pin left: {where}"
    applied = _git(repo, "rev-parse", "-q", "--verify", "refs/hive/applied^{commit}")
    runs = _container_runs(state, r.name)
    if r.kind == "apply_commit":
        _check_apply(lab, r, outcome == "approved", applied, row, runs, where)
    else:
        _check_spawn(lab, r, outcome == "approved", applied, row, runs, where)
    return str(outcome)


def _check_spawn(lab: Lab, r: Round, approved: bool, applied: str, row: Any, runs: bool,
                 where: str) -> None:
    agent_dir = lab.state / "agents" / r.name
    real_state = lab.state / "states" / r.name
    if approved:
        assert row is not None and row[0] == "running" and runs, f"not running: {where}"
        assert applied == r.commit and real_state.is_dir(), f"config/state: {where}"
        if r.kind == "spawn_commit":
            assert (real_state / "notes.md").read_text() == NOTES, f"notes: {where}"
            assert not any((agent_dir / "state").iterdir()), f"draft notes left: {where}"
        return
    assert row is None and not runs and not applied, f"half-spawned: {where}"
    assert not real_state.exists(), f"state left: {where}"
    if r.kind == "spawn":
        assert not agent_dir.exists(), f"name blocked: {where}"
    else:  # still a draft the manager can commit again
        assert (agent_dir / "config" / ".git").is_dir(), f"draft lost: {where}"
        assert (agent_dir / "state" / "notes.md").read_text() == NOTES, f"notes: {where}"


def _check_apply(lab: Lab, r: Round, approved: bool, applied: str, row: Any, runs: bool,
                 where: str) -> None:
    repo = lab.state / "repos" / "alice.git"
    settings = _git(repo, "show", f"{applied}:settings.toml")
    built = json.loads((lab.state / "secrets" / "alice" / "agent.json").read_text())
    model = row[1] if row else None
    if approved:
        assert applied == r.commit, f"applied {applied[:12]}: {where}"
    assert f'model = "{model}"' in settings, f"record {model} vs config: {where}"
    assert built["settings"]["model"] == model, f"container built from another: {where}"
    assert row[0] == "running" and runs, f"alice not running: {where}"
    if approved:
        assert model == _model_of_commit(lab, r.commit), f"model: {where}"
    else:
        assert model == r.model_before, f"not rolled back: {where}"


def _model_of_commit(lab: Lab, commit: str) -> str:
    text = _git(lab.state / "repos" / "alice.git", "show", f"{commit}:settings.toml")
    line = next(ln for ln in text.splitlines() if ln.startswith("model ="))
    return line.split("=", 1)[1].strip().strip('"')


async def _finish(lab: Lab, r: Round) -> str:
    """After the restart: approve what the kill left pending, check, clean up."""
    with lab.db() as db:
        (state,) = db.execute("SELECT state FROM approvals WHERE id = ?",
                              (r.approval,)).fetchone()
    if state == "pending":  # killed before the claim: the operator approves again
        await lab.approve(r.approval)
    outcome = _check(lab, r)
    if r.kind != "apply_commit" and outcome == "approved":
        async with lab.ctl() as c:  # keep the hive small: one container per round is plenty
            await c.destroy(r.name)
    return outcome


async def _killed_round(lab: Lab, kind: str, i: int, rng: random.Random) -> str:
    r = await lab.request(kind, i)
    delay = rng.uniform(0.0, lab.durations[kind] * 1.2)
    approving = asyncio.create_task(lab.approve(r.approval))
    done, _ = await asyncio.wait({approving}, timeout=delay)
    lab.forks.kill9(lab.pid)
    if done and approving.exception() is None:
        lab.durations[kind] = approving.result()
    else:
        await asyncio.gather(approving, return_exceptions=True)
    await lab.start()
    return await _finish(lab, r)


async def _injected_round(lab: Lab, kind: str, i: int, step: str) -> None:
    """The core exits by itself right after recording ``step``."""
    await lab.forks.wait_serving(lab.pid, lab.state)
    lab.forks.kill9(lab.pid)
    await lab.start({CRASH_AFTER_STEP_ENV: step})
    r = await lab.request(kind, i)
    await asyncio.gather(lab.approve(r.approval), return_exceptions=True)
    deadline = time.monotonic() + 30
    while alive(lab.pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not alive(lab.pid), f"the core did not stop after {step} ({kind})"
    lab.forks.reap(lab.pid)
    await lab.start()
    outcome = await _finish(lab, r)
    assert outcome == "approved", f"{kind} killed after {step} should resume, got {outcome}"


async def _stop_everything(lab: Lab) -> None:
    if alive(lab.pid):
        lab.forks.kill9(lab.pid)
    from hivetui.node import HiveNode

    async with HiveNode(lab.state) as node:
        await node.stop_all()


@pytest.mark.parametrize("kind", KINDS)
async def test_kill_9_at_random_points_of_approvals(tmp_path: Path, kind: str) -> None:
    rng = random.Random(f"issue 14 {kind}")
    forks = ForkServer()
    lab = await _lab(tmp_path, forks)
    outcomes = []
    try:
        for i in range(ROUNDS_PER_KIND):
            outcomes.append(await _killed_round(lab, kind, i + 1, rng))
    finally:
        await _stop_everything(lab)
        forks.close()
    assert len(outcomes) == ROUNDS_PER_KIND


async def test_a_core_dying_after_any_recorded_step_resumes(tmp_path: Path) -> None:
    forks = ForkServer()
    lab = await _lab(tmp_path, forks)
    try:
        i = 0
        for kind in KINDS:
            for step in STEPS:
                i += 1
                await _injected_round(lab, kind, i, step)
    finally:
        await _stop_everything(lab)
        forks.close()
