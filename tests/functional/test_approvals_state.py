"""A hypothesis state machine over request / approve / deny / destroy / revive / purge.

After every step the approval queue, the applied refs of every agent, the registry, the
kept list and the audit log must agree with a small model of what should have happened.
Real sqlite and real git; the recording fake backend stands in for containers.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hivetui.core.errors import ApprovalError, HiveError, NotFoundError, RegistryError
from tests.functional.test_approvals_fakes import commit_change, open_hive

pytestmark = pytest.mark.slow
T = TypeVar("T")
NAMES = ("ann", "bob")
COUNTED = ("request_spawn", "request_apply_commit", "approve", "approve_failed", "deny",
           "revive", "purge")


@dataclass
class Pending:
    kind: str
    agent: str
    commit: str
    base: str | None  # applied when requested (apply_commit)


@dataclass
class Model:
    applied: str
    live: bool


class ApprovalsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="hive-approvals-sm-"))
        self.hive, self.backend = self.run(open_hive(self.tmp / "state"))
        self.agents: dict[str, Model] = {}
        self.pending: dict[int, Pending] = {}
        self.resolved: set[int] = set()
        self.audit: Counter[str] = Counter()
        self.serial = itertools.count()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.hive.aclose())
        finally:
            self.loop.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _name_free(self, name: str) -> bool:
        return name not in self.agents and not any(
            p.agent == name and p.kind == "spawn" for p in self.pending.values())

    def _kept(self) -> list[str]:
        return sorted(n for n, m in self.agents.items() if not m.live)

    def _live(self) -> list[str]:
        return sorted(n for n, m in self.agents.items() if m.live)

    # --- rules ---------------------------------------------------------------------
    @initialize()
    def a_first_worker(self) -> None:
        """Start with ann live (through the approval path), so every rule has work."""
        a = self.run(self.hive.approvals.request_spawn("boss", "ann", "scripted:echo"))
        self.audit["request_spawn"] += 1
        self.run(self.hive.approvals.approve(a.id, "local:op"))
        self.audit["approve"] += 1
        self.resolved.add(a.id)
        self.agents["ann"] = Model(applied=a.commit, live=True)

    @rule(name=st.sampled_from(NAMES))
    def request_spawn(self, name: str) -> None:
        if self._name_free(name):
            a = self.run(self.hive.approvals.request_spawn("boss", name, "scripted:echo"))
            assert a.id not in self.pending and a.id not in self.resolved
            self.pending[a.id] = Pending("spawn", name, a.commit, None)
            self.audit["request_spawn"] += 1
        else:
            try:
                self.run(self.hive.approvals.request_spawn("boss", name, None))
            except ApprovalError as exc:
                assert name in str(exc)
            else:
                raise AssertionError(f"spawning {name} twice was not refused")

    @precondition(lambda self: self.agents)
    @rule(data=st.data())
    def request_apply(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.agents)))
        config = self.hive.paths.agent_config(name)
        sha = commit_change(config, {"prompt.md": f"# {name}\nversion {next(self.serial)}\n"})
        a = self.run(self.hive.approvals.request_apply_commit("boss", name, sha))
        assert a.commit == sha
        self.pending[a.id] = Pending("apply_commit", name, sha, self.agents[name].applied)
        self.audit["request_apply_commit"] += 1

    @rule(name=st.sampled_from(NAMES))
    def request_apply_refused(self, name: str) -> None:
        if name in self.agents:
            return
        try:
            self.run(self.hive.approvals.request_apply_commit("boss", name, "HEAD"))
        except (NotFoundError, ApprovalError):
            return
        raise AssertionError(f"apply to unknown {name} was not refused")

    @precondition(lambda self: self.resolved)
    @rule(data=st.data())
    def approve_again(self, data: st.DataObject) -> None:
        aid = data.draw(st.sampled_from(sorted(self.resolved)))
        try:
            self.run(self.hive.approvals.approve(aid, "local:op"))
        except ApprovalError as exc:
            assert "already resolved" in str(exc)
            return
        raise AssertionError(f"approval #{aid} was resolved twice")

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        aid = data.draw(st.sampled_from(sorted(self.pending)))
        p = self.pending.pop(aid)
        self.resolved.add(aid)
        self.audit["approve"] += 1
        stale = p.kind == "apply_commit" and self.agents[p.agent].applied != p.base
        if stale:
            try:
                self.run(self.hive.approvals.approve(aid, "local:op"))
            except ApprovalError as exc:
                assert "stale" in str(exc)
                self.audit["approve_failed"] += 1
                return
            raise AssertionError(f"stale approval #{aid} was applied")
        got = self.run(self.hive.approvals.approve(aid, "local:op"))
        assert got.state == "approved"
        if p.kind == "spawn":
            self.agents[p.agent] = Model(applied=p.commit, live=True)
        else:
            self.agents[p.agent].applied = p.commit

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def deny(self, data: st.DataObject) -> None:
        aid = data.draw(st.sampled_from(sorted(self.pending)))
        self.pending.pop(aid)
        self.resolved.add(aid)
        got = self.run(self.hive.approvals.deny(aid, "local:op", "not now"))
        assert (got.state, got.reason) == ("denied", "not now")
        self.audit["deny"] += 1

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def destroy(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._live()))
        assert self.hive.lifecycle is not None
        self.run(self.hive.lifecycle.destroy(name))
        self.agents[name].live = False

    @precondition(lambda self: self._kept())
    @rule(data=st.data())
    def revive(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._kept()))
        view = self.run(self.hive.approvals.revive(name, "local:op"))
        assert view.state == "running"
        self.agents[name].live = True
        self.audit["revive"] += 1

    @rule(name=st.sampled_from(NAMES))
    def revive_refused(self, name: str) -> None:
        if name in self._kept():
            return
        try:
            self.run(self.hive.approvals.revive(name, "local:op"))
        except NotFoundError:
            return
        raise AssertionError(f"revive of {name} (not kept) was not refused")

    @rule(name=st.sampled_from(NAMES))
    def purge(self, name: str) -> None:
        model = self.agents.get(name)
        has_pending = any(p.agent == name for p in self.pending.values())
        if model is None or model.live or has_pending:
            try:
                self.run(self.hive.approvals.purge(name, "local:op"))
            except (NotFoundError, RegistryError, ApprovalError):
                return
            raise AssertionError(f"purge of {name} was not refused")
        self.run(self.hive.approvals.purge(name, "local:op"))
        del self.agents[name]
        self.audit["purge"] += 1

    # --- invariants ----------------------------------------------------------------
    @invariant()
    def queue_matches(self) -> None:
        rows = self.run(self.hive.approvals.query())
        assert {a.id: (a.kind, a.agent, a.commit) for a in rows} == \
            {i: (p.kind, p.agent, p.commit) for i, p in self.pending.items()}

    @invariant()
    def applied_refs_and_registry_match(self) -> None:
        repos = self.hive.approvals.repos
        for name in NAMES:
            model = self.agents.get(name)
            applied = self.run(repos.applied(name))
            live = self.hive.registry.find(name) is not None
            if model is None:
                assert applied is None and not live, name
                assert not self.hive.paths.agent_dir(name).exists(), name
            else:
                assert applied == model.applied, name
                assert live == model.live, name
                if live:
                    spec = self.backend.specs[name]
                    assert spec.name == name
        kept = sorted(n for n, m in self.agents.items() if not m.live)
        assert self.run(self.hive.approvals.kept()) == kept

    @invariant()
    def audit_matches(self) -> None:
        entries = self.run(self.hive.audit.query(10_000))
        counts = Counter(e.action for e in entries if e.action in COUNTED)
        assert counts == +self.audit
        # every approval's audit entry names the commit it was about
        for e in entries:
            if e.action in ("approve", "deny", "request_spawn", "request_apply_commit"):
                assert len(e.commit) == 40, e


TestApprovalsMachine = ApprovalsMachine.TestCase
TestApprovalsMachine.settings = settings(
    max_examples=15, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_model_names_are_valid() -> None:
    from hivetui.core.names import validate_agent_name

    for name in NAMES:
        validate_agent_name(name)
    assert issubclass(ApprovalError, HiveError)
