"""Approvals as a recorded state machine, in-process: the steps are recorded in order, a
failing step rolls back and is reported, and a core that died half-way (here: the backend
stops the carrying out with a BaseException, which nothing catches, as a kill would) is
resumed by the next core, telling the manager exactly once. The real kill -9 rounds are in
tests/e2e/test_approval_crash.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hivetui.core.errors import ApprovalError
from hivetui.core.hive import Hive
from tests.fakes.claude.scenarios import stub_claude
from tests.functional.test_approvals_fakes import FakeBackendRecorder, open_hive


class CoreDied(BaseException):
    """Stands in for the process ending right there (nothing after it runs)."""


class DiesOnStart(FakeBackendRecorder):
    """The fake backend, whose start of ``victim`` ends the core (or fails, if asked)."""

    def __init__(self, victim: str, error: BaseException) -> None:
        super().__init__()
        self.victim = victim
        self.error = error

    async def start(self, name: str) -> None:
        if name == self.victim:
            raise self.error
        await super().start(name)


async def _steps(hive: Hive, approval_id: int) -> list[str]:
    rows = await hive.store.fetchall(
        "SELECT step FROM approval_steps WHERE approval_id = ? ORDER BY ts, rowid",
        (approval_id,))
    return [str(r[0]) for r in rows]


async def _resolved(hive: Hive, approval_id: int) -> list[dict[str, object]]:
    rows = await hive.store.fetchall(
        "SELECT body FROM messages WHERE recipient = 'boss' AND kind = 'system'")
    events = [json.loads(r[0]) for r in rows]
    return [e for e in events if e["event"] == "approval_resolved" and e["id"] == approval_id]


async def _hive_with(root: Path, backend: FakeBackendRecorder) -> Hive:
    hive = Hive(root, backend=backend)
    await hive.__aenter__()
    assert hive.lifecycle is not None
    # a draft's config defaults to the claude runtime, which the core refuses without one
    hive.lifecycle.claude_bin = stub_claude(root.parent / "bin")
    return hive


async def test_steps_are_recorded_in_order(tmp_path: Path) -> None:
    hive, _ = await open_hive(tmp_path)
    try:
        a = await hive.approvals.request_spawn("boss", "bob", "scripted:echo")
        await hive.approvals.approve(a.id, "local:op")
        assert await _steps(hive, a.id) == ["approved", "config_applied", "container_built",
                                            "started", "manager_told", "pin_removed"]
        d = await hive.approvals.request_spawn("boss", "carol", None)
        await hive.approvals.deny(d.id, "local:op", "not now")
        assert await _steps(hive, d.id) == ["denied", "manager_told", "pin_removed"]
    finally:
        await hive.aclose()


async def test_a_failing_step_rolls_back_and_is_reported(tmp_path: Path) -> None:
    hive = await _hive_with(tmp_path, DiesOnStart("bob", OSError("no room for h-bob")))
    try:
        assert hive.lifecycle is not None
        await hive.lifecycle.spawn("boss", runtime="scripted:manager", model="m",
                                   role="manager")
        a = await hive.approvals.request_spawn("boss", "bob", "scripted:echo")
        with pytest.raises(OSError, match="no room"):
            await hive.approvals.approve(a.id, "local:op")
        assert await _steps(hive, a.id) == ["approved", "config_applied", "container_built",
                                            "failed", "rolled_back", "manager_told",
                                            "pin_removed"]
        assert hive.registry.find("bob") is None
        assert not hive.paths.agent_state("bob").exists()
        assert not hive.paths.agent_dir("bob").exists()
        assert await hive.approvals.repos.applied("bob") is None
        told = await _resolved(hive, a.id)
        assert [(e["result"], e["reason"]) for e in told] == [("failed", "no room for h-bob")]
        again = await hive.approvals.request_spawn("boss", "bob", "scripted:echo")  # free
        assert again.state == "pending"
    finally:
        await hive.aclose()


@pytest.mark.parametrize("kind", ["spawn", "spawn_commit"])
async def test_a_core_dying_half_way_is_resumed_by_the_next(tmp_path: Path, kind: str
                                                             ) -> None:
    backend = DiesOnStart("bob", CoreDied())
    hive = await _hive_with(tmp_path, backend)
    assert hive.lifecycle is not None
    await hive.lifecycle.spawn("boss", runtime="scripted:manager", model="m", role="manager")
    if kind == "spawn":
        a = await hive.approvals.request_spawn("boss", "bob", "scripted:echo")
    else:
        draft = await hive.approvals.request_spawn_draft("boss", "bob")
        (hive.paths.agent_draft_state("bob") / "notes.md").write_text("first notes\n")
        a = await hive.approvals.request_spawn_commit("boss", "bob", draft.head)
    with pytest.raises(CoreDied):
        await hive.approvals.approve(a.id, "local:op")
    assert hive.registry.get("bob").state == "created"  # half-way, as a kill leaves it
    await hive.aclose()

    backend.victim = ""  # its containers outlive the core, as real ones do
    hive = await _hive_with(tmp_path, backend)
    try:
        with pytest.raises(ApprovalError, match="still being carried out"):
            await hive.approvals.purge("bob", "local:op")  # the name is held
        assert await hive.approvals.resume() == [a.id]
        assert await _steps(hive, a.id) == ["approved", "config_applied", "container_built",
                                            "started", "manager_told", "pin_removed"]
        assert hive.registry.get("bob").state == "running"
        assert await hive.approvals.repos.applied("bob") == a.commit
        if kind == "spawn_commit":
            assert (hive.paths.agent_state("bob") / "notes.md").read_text() == "first notes\n"
        assert [e["result"] for e in await _resolved(hive, a.id)] == ["approved"]
        assert await hive.approvals.resume() == []
    finally:
        await hive.aclose()


async def test_a_manager_told_before_the_death_is_not_told_twice(tmp_path: Path) -> None:
    hive, _ = await open_hive(tmp_path)
    a = await hive.approvals.request_spawn("boss", "bob", "scripted:echo")
    await hive.approvals.approve(a.id, "local:op")
    # as if the core died after the message was committed but before its record
    await hive.store.execute("DELETE FROM approval_steps WHERE approval_id = ? AND step IN "
                             "('manager_told', 'pin_removed')", (a.id,))
    await hive.bus.send("bob", "boss", "not JSON: the check must not trip over it")
    await hive.aclose()
    hive = await _hive_with(tmp_path, FakeBackendRecorder())
    try:
        assert await hive.approvals.resume() == [a.id]
        assert len(await _resolved(hive, a.id)) == 1
        assert "pin_removed" in await _steps(hive, a.id)
    finally:
        await hive.aclose()
