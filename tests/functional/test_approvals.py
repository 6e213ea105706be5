"""Approvals end to end in the core: real sqlite, real git, a recording fake backend."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.core.errors import ApprovalError, HiveError, NameError_, NotFoundError, RepoError
from hivetui.core.events import AgentChanged
from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession
from tests.functional.test_approvals_fakes import (
    FakeBackendRecorder,
    commit_change,
    manager_git,
    open_hive,
    set_model,
)

Env = tuple[Hive, FakeBackendRecorder]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    hive, backend = await open_hive(tmp_path / "state")
    try:
        yield hive, backend
    finally:
        await hive.aclose()


async def spawn_worker(hive: Hive, name: str = "alice") -> None:
    assert hive.lifecycle is not None
    await hive.lifecycle.spawn(name, runtime="scripted:echo", model="model-a")


async def manager_events(hive: Hive) -> list[dict[str, object]]:
    """What reached the manager's inbox from the system, as the JSON bodies."""
    msgs = await hive.bus.history("boss", 100)
    return [json.loads(m.body) for m in msgs if m.sender == "system" and m.kind == "system"]


async def audit_actions(hive: Hive) -> list[tuple[str, str, str, str]]:
    return [(e.actor, e.action, e.target, e.commit) for e in await hive.audit.query(500)]


# --- one-shot spawn -----------------------------------------------------------------


async def test_one_shot_spawn_approved_makes_a_worker_with_default_config(env: Env) -> None:
    hive, backend = env
    a = await hive.approvals.request_spawn("boss", "bob", "scripted:echo")
    assert (a.kind, a.agent, a.state) == ("spawn", "bob", "pending")
    assert len(a.commit) == 40
    assert "+++ b/settings.toml" in a.diff and '+runtime = "scripted:echo"' in a.diff
    assert "+++ b/agent.nix" in a.diff and "+++ b/prompt.md" in a.diff
    assert hive.registry.find("bob") is None and not hive.paths.agent_dir("bob").exists()

    done = await hive.approvals.approve(a.id, "local:op")
    assert (done.state, done.resolved_by) == ("approved", "local:op")
    bob = hive.registry.get("bob")
    assert (bob.role, bob.runtime, bob.state) == ("worker", "scripted:echo", "running")
    assert await hive.approvals.repos.applied("bob") == a.commit
    spec = backend.specs["bob"]
    assert spec.settings.runtime == "scripted:echo"
    assert list(hive.paths.agent_state("bob").iterdir()) == []  # an empty /state
    config = hive.paths.agent_config("bob")
    assert sorted(p.name for p in config.iterdir() if p.name != ".git") == \
        ["agent.nix", "prompt.md", "settings.toml"]
    assert manager_git(config, "rev-parse", "HEAD").strip() == a.commit
    # the manager can commit in its copy with no git identity of its own
    commit_change(config, {"prompt.md": "# bob\nbe brief\n"})
    actions = await audit_actions(hive)
    assert ("boss", "request_spawn", "bob", a.commit) in actions
    assert ("local:op", "approve", "bob", a.commit) in actions


async def test_manager_receives_approval_resolved_in_its_inbox(env: Env) -> None:
    hive, _ = env
    a1 = await hive.approvals.request_spawn("boss", "bob", None)
    a2 = await hive.approvals.request_spawn("boss", "carl", None)
    await hive.approvals.approve(a1.id, "local:op")
    await hive.approvals.deny(a2.id, "local:op", "  one worker is enough  ")
    events = [e for e in await manager_events(hive) if e["event"] == "approval_resolved"]
    assert [(e["id"], e["kind"], e["result"], e["reason"], e["commit"], e["agent"])
            for e in events] == [
        (a1.id, "spawn", "approved", "", a1.commit, "bob"),
        (a2.id, "spawn", "denied", "one worker is enough", a2.commit, "carl"),
    ]
    # it really is a system message to the manager, received like any other
    got = await hive.bus.recv("boss", 0, 50)
    assert any(m.kind == "system" and '"approval_resolved"' in m.body for m in got)
    denied = await hive.approvals.get(a2.id)
    assert (denied.state, denied.reason) == ("denied", "one worker is enough")
    assert ("local:op", "deny", "carl", a2.commit) in await audit_actions(hive)


async def test_deny_needs_a_reason(env: Env) -> None:
    hive, _ = env
    a = await hive.approvals.request_spawn("boss", "bob", None)
    with pytest.raises(ApprovalError, match="reason"):
        await hive.approvals.deny(a.id, "local:op", "   ")
    assert (await hive.approvals.get(a.id)).state == "pending"


# --- apply_commit -------------------------------------------------------------------


async def test_apply_applies_the_reviewed_commit_not_a_later_one(env: Env) -> None:
    hive, backend = env
    await spawn_worker(hive)
    config = hive.paths.agent_config("alice")
    before = await hive.approvals.repos.applied("alice")
    settings = (config / "settings.toml").read_text()
    reviewed = commit_change(config, {"settings.toml": set_model(settings, "model-b")})
    a = await hive.approvals.request_apply_commit("boss", "alice", reviewed)
    assert a.commit == reviewed and a.kind == "apply_commit"
    assert '-model = "model-a"' in a.diff and '+model = "model-b"' in a.diff
    # after the request the manager goes on: a new commit on the same branch, and even a
    # rewritten history (the reviewed commit no longer on any branch)
    later = commit_change(config, {"settings.toml": set_model(settings, "model-evil")})
    manager_git(config, "reset", "-q", "--hard", before or "")
    manager_git(config, "commit", "-q", "--allow-empty", "-m", "rewrite")
    flags: list[str] = []
    sub = hive.hub.subscribe()
    await hive.approvals.approve(a.id, "local:op")
    while not sub._queue.empty():
        ev = await sub.get()
        if isinstance(ev, AgentChanged) and ev.agent == "alice":
            flags.append(ev.what)
    sub.close()
    applied = await hive.approvals.repos.applied("alice")
    assert applied == reviewed != later
    assert backend.count("rebuild", "alice") == 1
    assert backend.specs["alice"].settings.model == "model-b"
    assert hive.registry.get("alice").model == "model-b"
    assert "flag+Rebuilding" in flags and "flag-Rebuilding" in flags
    events = await manager_events(hive)
    assert {"event": "approval_resolved", "result": "approved", "commit": reviewed} .items() \
        <= next(e for e in events if e["event"] == "approval_resolved").items()


async def test_an_applied_agent_nix_reaches_the_container_spec(env: Env) -> None:
    hive, backend = env
    await spawn_worker(hive)
    assert "# Extra NixOS configuration for agent alice" in backend.specs["alice"].nix_module
    config = hive.paths.agent_config("alice")
    own = "{ pkgs, ... }:\n{ environment.systemPackages = [ pkgs.jq ]; }\n"
    proposed = commit_change(config, {"agent.nix": own})
    assert backend.specs["alice"].nix_module != own  # proposed is not applied
    a = await hive.approvals.request_apply_commit("boss", "alice", proposed)
    assert "+{ environment.systemPackages = [ pkgs.jq ]; }" in a.diff
    await hive.approvals.approve(a.id, "local:op")
    assert backend.specs["alice"].nix_module == own


async def test_two_operators_approving_at_once_exactly_one_wins(env: Env) -> None:
    hive, backend = env
    await spawn_worker(hive)
    config = hive.paths.agent_config("alice")
    c = commit_change(config, {"prompt.md": "# alice\nnew prompt\n"})
    a = await hive.approvals.request_apply_commit("boss", "alice", c)
    results = await asyncio.gather(hive.approvals.approve(a.id, "local:ann"),
                                   hive.approvals.approve(a.id, "ssh:bob"),
                                   return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1
    assert isinstance(losses[0], ApprovalError)
    assert "already resolved" in str(losses[0])
    assert backend.count("rebuild", "alice") == 1
    approves = [x for x in await audit_actions(hive) if x[1] == "approve"]
    assert len(approves) == 1
    resolved = [e for e in await manager_events(hive) if e["event"] == "approval_resolved"]
    assert len(resolved) == 1


async def test_approve_and_deny_racing_one_wins(env: Env) -> None:
    hive, _ = env
    a = await hive.approvals.request_spawn("boss", "bob", None)
    results = await asyncio.gather(hive.approvals.deny(a.id, "local:ann", "no"),
                                   hive.approvals.approve(a.id, "ssh:bob"),
                                   return_exceptions=True)
    assert sum(isinstance(r, ApprovalError) and "already resolved" in str(r)
               for r in results) == 1
    final = await hive.approvals.get(a.id)
    assert final.state in ("approved", "denied")
    assert (hive.registry.find("bob") is not None) == (final.state == "approved")


async def test_stale_request_fails_instead_of_applying_an_unreviewed_change(env: Env) -> None:
    hive, backend = env
    await spawn_worker(hive)
    config = hive.paths.agent_config("alice")
    base = manager_git(config, "rev-parse", "HEAD").strip()
    c1 = commit_change(config, {"prompt.md": "# alice\nrestricted\n"})
    manager_git(config, "checkout", "-q", "-b", "other", base)
    c2 = commit_change(config, {"agent.nix": "{ ... }: { }\n"})
    a1 = await hive.approvals.request_apply_commit("boss", "alice", c1)
    a2 = await hive.approvals.request_apply_commit("boss", "alice", c2)
    await hive.approvals.approve(a1.id, "local:op")
    with pytest.raises(ApprovalError, match="stale"):
        await hive.approvals.approve(a2.id, "local:op")
    assert await hive.approvals.repos.applied("alice") == c1
    assert (await hive.approvals.get(a2.id)).state == "failed"
    events = [e for e in await manager_events(hive) if e["event"] == "approval_resolved"]
    assert events[-1]["result"] == "failed" and "stale" in str(events[-1]["reason"])
    assert backend.count("rebuild", "alice") == 1


async def test_failed_rebuild_keeps_the_old_config_applied(env: Env) -> None:
    hive, backend = env
    await spawn_worker(hive)
    before = await hive.approvals.repos.applied("alice")
    config = hive.paths.agent_config("alice")
    settings = (config / "settings.toml").read_text()
    c = commit_change(config, {"settings.toml": set_model(settings, "model-b")})
    a = await hive.approvals.request_apply_commit("boss", "alice", c)
    backend.fail_rebuild = True
    with pytest.raises(ApprovalError, match="rebuild"):
        await hive.approvals.approve(a.id, "local:op")
    assert await hive.approvals.repos.applied("alice") == before
    assert hive.registry.get("alice").model == "model-a"
    assert (await hive.approvals.get(a.id)).state == "failed"
    assert any(x[1] == "approve_failed" for x in await audit_actions(hive))


# --- refusals at request time -----------------------------------------------------------


async def test_a_commit_that_does_not_exist_is_refused(env: Env) -> None:
    hive, _ = env
    await spawn_worker(hive)
    for bad in ("0" * 40, "deadbeef12", "no-such-branch"):
        with pytest.raises(RepoError, match=f"no commit '{bad}' in alice's config repo"):
            await hive.approvals.request_apply_commit("boss", "alice", bad)
    for bad in ("--upload-pack=touch /tmp/x", "a..b", ""):
        with pytest.raises(RepoError, match="invalid commit"):
            await hive.approvals.request_apply_commit("boss", "alice", bad)
    applied = await hive.approvals.repos.applied("alice")
    assert applied is not None
    with pytest.raises(ApprovalError, match="already alice's applied config"):
        await hive.approvals.request_apply_commit("boss", "alice", applied)
    with pytest.raises(NotFoundError, match="no agent named 'zed'"):
        await hive.approvals.request_apply_commit("boss", "zed", applied)
    assert await hive.approvals.query() == []


async def test_branch_names_and_short_shas_resolve_to_full_shas(env: Env) -> None:
    hive, _ = env
    await spawn_worker(hive)
    config = hive.paths.agent_config("alice")
    c = commit_change(config, {"prompt.md": "x\n"})
    a = await hive.approvals.request_apply_commit("boss", "alice", "main")
    assert a.commit == c
    with pytest.raises(ApprovalError, match="already requested"):
        await hive.approvals.request_apply_commit("boss", "alice", c[:10])


async def test_a_commit_with_broken_settings_is_refused(env: Env) -> None:
    hive, _ = env
    await spawn_worker(hive)
    config = hive.paths.agent_config("alice")
    c = commit_change(config, {"settings.toml": "model = [\n"})
    with pytest.raises(RepoError, match="settings.toml at commit .* is invalid"):
        await hive.approvals.request_apply_commit("boss", "alice", c)


async def test_a_name_taken_requested_drafted_or_breaking_the_rule_is_refused(
        env: Env) -> None:
    hive, _ = env
    await spawn_worker(hive)
    with pytest.raises(ApprovalError, match="an agent named 'alice' already exists"):
        await hive.approvals.request_spawn("boss", "alice", None)
    with pytest.raises(ApprovalError, match="an agent named 'boss' already exists"):
        await hive.approvals.request_spawn_draft("boss", "boss")
    a = await hive.approvals.request_spawn("boss", "bob", None)
    for request in (hive.approvals.request_spawn("boss", "bob", None),
                    hive.approvals.request_spawn_draft("boss", "bob")):
        with pytest.raises(ApprovalError, match=f"already requested \\(approval #{a.id}\\)"):
            await request
    await hive.approvals.request_spawn_draft("boss", "dora")
    with pytest.raises(ApprovalError, match="a draft named 'dora' exists"):
        await hive.approvals.request_spawn("boss", "dora", None)
    with pytest.raises(ApprovalError, match="a draft named 'dora' exists"):
        await hive.approvals.request_spawn_draft("boss", "dora")
    for bad in ("Bob", "toolongname", "9lives", "operator", "a_b"):
        with pytest.raises(NameError_):
            await hive.approvals.request_spawn("boss", bad, None)
        with pytest.raises(NameError_):
            await hive.approvals.request_spawn_draft("boss", bad)
    with pytest.raises(NameError_, match="unknown runtime 'two words'"):
        await hive.approvals.request_spawn("boss", "eve", "two words")
    assert [x.agent for x in await hive.approvals.query()] == ["bob"]


# --- two-step spawn -----------------------------------------------------------------


async def test_draft_edit_commit_approve_spawns_from_that_commit(env: Env) -> None:
    hive, backend = env
    draft = await hive.approvals.request_spawn_draft("boss", "dora")
    config = hive.paths.agent_config("dora")
    assert draft.name == "dora" and manager_git(config, "rev-parse", "HEAD").strip() == draft.head
    # the draft's first notes live in the manager's view (agents/dora/state); the real
    # state (states/dora) does not exist before the spawn
    assert hive.paths.agent_draft_state("dora").is_dir()
    assert not hive.paths.agent_state("dora").exists()
    assert ("create", "dora") not in backend.calls and hive.registry.find("dora") is None
    assert [(d.name, d.head) for d in await hive.approvals.drafts()] == [("dora", draft.head)]
    assert await hive.approvals.kept() == []
    # the manager pre-stages a prompt, settings and notes before the agent first wakes
    (hive.paths.agent_draft_state("dora") / "notes.md").write_text("start with the parser\n")
    (hive.paths.agent_draft_state("dora") / "plan").mkdir()
    (hive.paths.agent_draft_state("dora") / "plan" / "1.md").write_text("lexer\n")
    os.mkfifo(hive.paths.agent_draft_state("dora") / "pipe")  # never copied (nor hangs)
    settings = (config / "settings.toml").read_text()
    c1 = commit_change(config, {"prompt.md": "# dora\nYou parse.\n",
                                "settings.toml": set_model(settings, "model-d")})
    a = await hive.approvals.request_spawn_commit("boss", "dora", c1)
    assert a.kind == "spawn_commit" and a.commit == c1
    # the diff is the whole draft, from the empty tree
    assert a.diff.count("new file mode") == 3 and "+You parse." in a.diff
    with pytest.raises(ApprovalError, match="already committed for approval"):
        await hive.approvals.request_spawn_commit("boss", "dora", c1)
    commit_change(config, {"prompt.md": "# dora\nsomething unreviewed\n"})
    await hive.approvals.approve(a.id, "local:op")
    dora = hive.registry.get("dora")
    assert (dora.model, dora.state) == ("model-d", "running")
    assert await hive.approvals.repos.applied("dora") == c1
    assert backend.specs["dora"].settings.model == "model-d"
    agent_json = json.loads((hive.paths.agent_run("dora") / "agent.json").read_text())
    assert agent_json["prompt"] == "# dora\nYou parse.\n"
    assert (hive.paths.agent_state("dora") / "notes.md").read_text() == "start with the parser\n"
    assert (hive.paths.agent_state("dora") / "plan" / "1.md").read_text() == "lexer\n"
    assert not (hive.paths.agent_state("dora") / "pipe").exists()
    assert backend.specs["dora"].state_dir == hive.paths.agent_state("dora")
    # what the manager prepared was copied out of its view: the draft area is now only
    # the empty mountpoint of the manager's (next start's) read-only bind
    assert list(hive.paths.agent_draft_state("dora").iterdir()) == []
    assert await hive.approvals.drafts() == []
    with pytest.raises(ApprovalError, match="already exists"):
        await hive.approvals.request_spawn_commit("boss", "dora", c1)
    actions = [x[1] for x in await audit_actions(hive) if x[2] == "dora"]
    assert actions[:3] == ["request_spawn_draft", "request_spawn_commit", "approve"]


async def test_spawn_commit_needs_a_draft_and_a_real_commit(env: Env) -> None:
    hive, _ = env
    with pytest.raises(ApprovalError, match="no draft named 'nod'"):
        await hive.approvals.request_spawn_commit("boss", "nod", "main")
    await hive.approvals.request_spawn_draft("boss", "dora")
    with pytest.raises(RepoError, match="no commit 'f00dfeed' in dora's config repo"):
        await hive.approvals.request_spawn_commit("boss", "dora", "f00dfeed")
    # denied, the draft can be fixed and committed again
    a = await hive.approvals.request_spawn_commit("boss", "dora", "HEAD")
    await hive.approvals.deny(a.id, "local:op", "give it a real prompt")
    c = commit_change(hive.paths.agent_config("dora"), {"prompt.md": "real\n"})
    again = await hive.approvals.request_spawn_commit("boss", "dora", c)
    assert again.state == "pending"


# --- kept state -----------------------------------------------------------------------


async def test_destroy_keeps_revive_restores_purge_deletes(env: Env) -> None:
    hive, backend = env
    await spawn_worker(hive)
    config = hive.paths.agent_config("alice")
    c = commit_change(config, {"prompt.md": "# alice\nv2\n"})
    await hive.approvals.approve((await hive.approvals.request_apply_commit(
        "boss", "alice", c)).id, "local:op")
    (hive.paths.agent_state("alice") / "notes.md").write_text("remember me\n")
    ops = OperatorSession(hive, Operator("local:ann"))
    await ops.destroy("alice")
    assert await ops.kept() == ["alice"]
    assert hive.registry.find("alice") is None

    view = await ops.revive("alice")
    assert (view.name, view.state, view.runtime) == ("alice", "running", "scripted:echo")
    assert backend.count("create", "alice") == 2
    assert (hive.paths.agent_state("alice") / "notes.md").read_text() == "remember me\n"
    assert await hive.approvals.repos.applied("alice") == c
    assert await ops.kept() == []
    with pytest.raises(NotFoundError, match="no kept agent named 'alice'"):
        await ops.revive("alice")
    with pytest.raises(HiveError, match="is a live agent"):
        await hive.approvals.purge("alice", "local:ann")

    await ops.destroy("alice")
    with pytest.raises(HiveError, match="confirm"):
        await ops.purge("alice", "alic")
    await ops.purge("alice", "alice")
    assert not hive.paths.agent_dir("alice").exists()
    assert not hive.approvals.repos.applied_dir("alice").exists()
    assert await ops.kept() == []
    actions = await audit_actions(hive)
    assert ("local:ann", "revive", "alice", c) in actions
    assert ("local:ann", "purge", "alice", c) in actions
    # the name is free again
    await hive.approvals.request_spawn("boss", "alice", None)


async def test_destroy_keeps_the_inbox_for_the_revive(env: Env) -> None:
    """A destroy keeps what a revive needs (state, config and unread messages); the bus
    keeps no waiter entry for the destroyed agent."""
    hive, _ = env
    await spawn_worker(hive)
    assert await hive.bus.recv("alice", wait_s=0.05) == []  # a long-poll came and went
    await hive.bus.send("operator", "alice", "read me after the revive")
    ops = OperatorSession(hive, Operator("local:ann"))
    await ops.destroy("alice")
    assert hive.bus.depth("alice") == 1
    assert "alice" not in hive.bus._waiters
    await ops.revive("alice")
    got = await hive.bus.recv("alice", wait_s=0)
    assert [m.body for m in got] == ["read me after the revive"]


async def test_purge_is_refused_while_an_approval_is_pending(env: Env) -> None:
    hive, _ = env
    await hive.approvals.request_spawn_draft("boss", "dora")
    a = await hive.approvals.request_spawn_commit("boss", "dora", "HEAD")
    with pytest.raises(ApprovalError, match=f"pending approval #{a.id}"):
        await hive.approvals.purge("dora", "local:op")
    await hive.approvals.deny(a.id, "local:op", "not now")
    await hive.approvals.purge("dora", "local:op")  # a draft can be thrown away
    assert await hive.approvals.drafts() == []
    with pytest.raises(NotFoundError):
        await hive.approvals.purge("dora", "local:op")


async def test_apply_to_a_kept_agent_takes_effect_at_revive(env: Env) -> None:
    hive, backend = env
    await spawn_worker(hive)
    config = hive.paths.agent_config("alice")
    settings = (config / "settings.toml").read_text()
    c = commit_change(config, {"settings.toml": set_model(settings, "model-k")})
    assert hive.lifecycle is not None
    await hive.lifecycle.destroy("alice")
    a = await hive.approvals.request_apply_commit("boss", "alice", c)
    await hive.approvals.approve(a.id, "local:op")
    assert backend.count("rebuild", "alice") == 0
    view = await hive.approvals.revive("alice", "local:op")
    assert view.model == "model-k" and backend.specs["alice"].settings.model == "model-k"


async def test_operator_api_round_trip(env: Env) -> None:
    hive, _ = env
    ops = OperatorSession(hive, Operator("ssh:SHA256:abc"))
    ro = OperatorSession(hive, Operator("ssh:viewer", read_only=True))
    a = await hive.approvals.request_spawn("boss", "bob", None)
    assert [x.id for x in await ro.approvals()] == [a.id]
    with pytest.raises(HiveError, match="read-only"):
        await ro.approve(a.id)
    done = await ops.approve(a.id)
    assert done.resolved_by == "ssh:SHA256:abc"
    assert await ops.approvals() == []
    assert [x.id for x in await ops.approvals(include_resolved=True)] == [a.id]
    with pytest.raises(ApprovalError, match="already resolved"):
        await ops.deny(a.id, "late")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to another uid")
async def test_configs_created_while_the_manager_runs_are_the_managers(env: Env) -> None:
    """A backend running as root gives the manager's container uid its writable view
    (agents/) when it starts; a draft or a new worker made later must be its too."""
    hive, _ = env
    uid = 1888000000  # the local backend's container uid when hivetui runs as root
    os.chown(hive.paths.agents, uid, uid)  # as at the manager's start
    await hive.approvals.request_spawn_draft("boss", "dora")
    await spawn_worker(hive, "walt")
    owned = [hive.paths.agent_dir("dora"), hive.paths.agent_draft_state("dora"),
             hive.paths.agent_config("dora"), hive.paths.agent_config("dora") / ".git" / "HEAD",
             hive.paths.agent_config("walt"), hive.paths.agent_config("walt") / "settings.toml"]
    for path in owned:
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (uid, uid), path
    # the core still reads the manager-owned repos (upload-pack, not the manager's hooks)
    assert await hive.approvals.repos.proposed_head("walt")
    # the real state of an agent stays the core's (never the manager's to write)
    assert hive.paths.agent_state("walt").stat().st_uid != uid


async def test_a_commit_to_the_hosts_network_is_flagged_in_its_approval(env: Env) -> None:
    """``network = "host"`` is a settings change like any other in the diff, and the
    approval's detail flags it; once applied, the agent's view says so (the fleet flags
    it). A newly allowed egress target is named too."""
    hive, backend = env
    await spawn_worker(hive)
    config = hive.paths.agent_config("alice")
    settings = (config / "settings.toml").read_text()
    allow = commit_change(config, {"settings.toml": settings
                                   + 'network.allow = ["github.com:443"]\n'})
    a = await hive.approvals.request_apply_commit("boss", "alice", allow)
    assert a.detail.endswith("; egress newly allowed: github.com:443"), a.detail
    host = commit_change(config, {"settings.toml": settings + 'network = "host"\n'})
    b = await hive.approvals.request_apply_commit("boss", "alice", host)
    assert '+network = "host"' in b.diff
    assert '⚠ NETWORK = "host": the agent leaves its network namespace' in b.detail, b.detail
    api = OperatorSession(hive, Operator("local:op"))
    assert (await api.agent("alice")).network == "private"
    await hive.approvals.approve(b.id, "local:op")
    assert backend.specs["alice"].settings.host_network is True
    assert (await api.agent("alice")).network == "host"
