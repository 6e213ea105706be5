"""Agents' real state is out of the manager's writable view of agents/ — also for agents
created after the manager started, drafts' first notes and state dirs laid out the old way
(real local-backend containers; the shell runs inside them through nsenter)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hivetui.core.config import HiveConfig
from hivetui.core.operator import Operator, OperatorSession
from hivetui.node import HiveNode
from tests.container_util import sh_in

pytestmark = pytest.mark.slow


async def test_agent_spawned_after_the_manager_started_is_out_of_its_reach(
        tmp_path: Path) -> None:
    async with HiveNode(tmp_path / "state", HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        paths = node.paths
        try:
            await api.spawn("w1", "scripted:echo")
            (paths.agent_state("w1") / "notes.md").write_text("w1 notes\n")
            await api.spawn("boss", "scripted:manager", manager=True)
            # w2 comes after the manager's binds were computed
            await api.spawn("w2", "scripted:echo")
            (paths.agent_state("w2") / "notes.md").write_text("w2 notes\n")
            out = await sh_in(node, "boss", (
                "cat /agents/w1/state/notes.md; "
                "touch /agents/w1/state/planted 2>/dev/null && echo W1-WRITABLE; "
                "cat /agents/w2/state/notes.md 2>/dev/null; "
                "mkdir -p /agents/w2/state && echo 'obey me' > /agents/w2/state/planted "
                "2>/dev/null && echo W2-WROTE-DRAFT-DIR; "
                "ls -a /agents/w2/state | tr '\\n' ' '"))
            # the agent started before the manager: readable, not writable
            assert "w1 notes" in out and "W1-WRITABLE" not in out, out
            assert not (paths.agent_state("w1") / "planted").exists()
            # the agent started after: its real state is not even visible, and what the
            # manager writes lands in the empty mountpoint, never in the worker's /state
            assert "w2 notes" not in out, out
            assert not (paths.agent_state("w2") / "planted").exists()
            inside = await sh_in(node, "w2", "ls /state | tr '\\n' ' '; cat /state/notes.md")
            assert "planted" not in inside and "w2 notes" in inside, inside
            assert sorted(p.name for p in paths.agent_state("w2").iterdir()) == ["notes.md"]

            # once the manager's container is built again (its binds are part of its spec)
            # w2's state is visible read-only, over whatever the manager left there
            await api.rebuild("boss")
            out = await sh_in(node, "boss", (
                "cat /agents/w2/state/notes.md; ls /agents/w2/state | tr '\\n' ' '; "
                "touch /agents/w2/state/again 2>/dev/null && echo W2-WRITABLE"))
            assert "w2 notes" in out and "planted" not in out and "W2-WRITABLE" not in out, out
            assert not (paths.agent_state("w2") / "again").exists()
        finally:
            await node.stop_all()


async def test_the_managers_draft_notes_are_the_spawned_agents_first_state(
        tmp_path: Path) -> None:
    config = HiveConfig()
    config.harness.default_runtime = "scripted:echo"  # the draft's: no claude needed here
    async with HiveNode(tmp_path / "state", config) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        paths = node.paths
        approvals = node.hive.approvals
        try:
            # drafted before the manager's container starts, so the local backend hands the
            # draft's files to the container uid (it chowns the manager's writable binds
            # when the container starts)
            draft = await approvals.request_spawn_draft("boss", "dora")
            await api.spawn("boss", "scripted:manager", manager=True)
            out = await sh_in(node, "boss", (
                "echo 'start with the parser' > /agents/dora/state/notes.md && "
                "mkdir /agents/dora/state/plan && echo lexer > /agents/dora/state/plan/1.md "
                "&& echo PREPARED"))
            assert "PREPARED" in out, out
            a = await approvals.request_spawn_commit("boss", "dora", draft.head)
            await approvals.approve(a.id, "tester")
            assert node.hive.registry.get("dora").state == "running"
            inside = await sh_in(node, "dora", "cat /state/notes.md /state/plan/1.md")
            assert "start with the parser" in inside and "lexer" in inside, inside
            # the manager's view of dora/state is now an empty dir apart from the real one
            out = await sh_in(node, "boss", (
                "ls -A /agents/dora/state | sed 's/^/LEFT /'; "
                "echo 'obey me' > /agents/dora/state/planted && echo WROTE-MOUNTPOINT"))
            assert "LEFT" not in out, out
            assert not (paths.agent_state("dora") / "planted").exists()
            assert "planted" not in await sh_in(node, "dora", "ls /state")
        finally:
            await node.stop_all()


async def test_state_laid_out_the_old_way_moves_out_of_the_managers_view(
        tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    async with HiveNode(state_dir, HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        try:
            await api.spawn("w1", "scripted:echo")
            await node.hive.approvals.request_spawn_draft("boss", "dora")
            (node.paths.agent_draft_state("dora") / "notes.md").write_text("draft notes\n")
        finally:
            await node.stop_all()
    # the layout before states/: the real state at agents/w1/state
    paths = node.paths
    old = paths.agent_draft_state("w1")
    if old.exists():
        old.rmdir()
    shutil.move(paths.agent_state("w1"), old)
    (old / "old.md").write_text("kept from before\n")

    async with HiveNode(state_dir, HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        try:
            assert (paths.agent_state("w1") / "old.md").read_text() == "kept from before\n"
            assert old.is_dir() and list(old.iterdir()) == []
            # a draft's notes are the manager's to prepare: they stay in its view
            assert (paths.agent_draft_state("dora") / "notes.md").read_text() == \
                "draft notes\n"
            assert not paths.agent_state("dora").exists()
            await api.start("w1")
            assert "kept from before" in await sh_in(node, "w1", "cat /state/old.md")
        finally:
            await node.stop_all()
