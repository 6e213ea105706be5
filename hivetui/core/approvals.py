"""Approvals: everything the manager wants to change in the hive passes the operator.

Kinds (``approvals.kind``):

* ``spawn`` — one shot: a new worker with the default config and an empty /state;
* ``spawn_commit`` — spawn a draft (``request_spawn_draft``) from a commit of its repo;
* ``apply_commit`` — move an agent's applied config to a commit and rebuild it.

Each request carries a commit (for ``spawn`` the default config, built at request time),
fetched into the hive-owned applied repo and pinned there, and the diff the operator
reviews. Approving applies **exactly that commit**; if the applied config moved since the
request (so the reviewed diff no longer describes the change), the approval fails rather
than apply something nobody reviewed. Resolution is a conditional UPDATE, so of two
operators approving at once exactly one wins. The manager hears ``approval_resolved``
(``approved``, ``denied`` with the reason, or ``failed`` with what went wrong).

A resolved approval is carried out step by step, each step recorded, and resumed or
rolled back by the next core if this one dies half-way (:mod:`hivetui.core.approval_run`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hivetui.core import beneath
from hivetui.core.approval_run import (
    APPROVED,
    DENIED,
    FAILED,
    ApprovalRun,
    crash_if_injected,
)
from hivetui.core.audit import AuditLog
from hivetui.core.errors import ApprovalError, HiveError, NotFoundError
from hivetui.core.events import AgentChanged, ApprovalRequested, EventHub, ManagerEvent
from hivetui.core.kept import KeptAgents
from hivetui.core.kinds import APPROVAL_KINDS, SPAWN_KINDS
from hivetui.core.lifecycle import Lifecycle
from hivetui.core.names import validate_agent_name, validate_runtime
from hivetui.core.paths import StatePaths, share_owner
from hivetui.core.registry import Registry
from hivetui.core.repos import ConfigRepos, default_files
from hivetui.core.rows import Columns
from hivetui.core.settings import AgentSettings
from hivetui.core.store import Store
from hivetui.core.views import AgentView, Approval, Draft

log = logging.getLogger(__name__)


_COLS = Columns(id="id", kind="kind", agent="agent", commit="commit_sha", diff="diff",
                detail="detail", state="state", requested_by="requested_by",
                created_at="created_at", resolved_at="resolved_at", resolved_by="resolved_by",
                reason="reason")


def _approval(row: tuple[Any, ...]) -> Approval:
    return Approval(**_COLS.read(row))


def network_change(before: AgentSettings | None, after: AgentSettings) -> str:
    """What an approval's detail says of the network a commit gives: ``network = "host"``
    flagged loudly (the agent leaves the hive's isolation), egress allowed anew listed."""
    if after.host_network:
        if before is not None and before.host_network:
            return "; network stays \"host\" (not isolated)"
        return ("; ⚠ NETWORK = \"host\": the agent leaves its network namespace (the "
                "host's loopback services and the internet, no egress proxy)")
    added = sorted(set(after.network_allow) - set(before.network_allow if before else ()))
    return f"; egress newly allowed: {', '.join(added)}" if added else ""


class Approvals:
    def __init__(self, store: Store, registry: Registry, paths: StatePaths, hub: EventHub,
                 audit: AuditLog, lifecycle: Lifecycle | None,
                 notify: Callable[[ManagerEvent], Awaitable[None]],
                 default_runtime: str, default_model: str) -> None:
        self._store = store
        self._registry = registry
        self._paths = paths
        self._hub = hub
        self._audit = audit
        self._lifecycle = lifecycle
        self._notify = notify
        self.default_runtime = default_runtime
        self.default_model = default_model
        self.repos = lifecycle.repos if lifecycle is not None else ConfigRepos(paths)
        self.kept_agents = KeptAgents(store, registry, paths, hub, audit, lifecycle, self.repos)
        self._run = ApprovalRun(store, registry, paths, audit, lifecycle, self.repos,
                                self.kept_agents, notify)
        # one request / resolution at a time per agent name (checks then acts)
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # --- reading -------------------------------------------------------------------
    async def get(self, approval_id: int) -> Approval:
        row = await self._store.fetchone(f"SELECT {_COLS} FROM approvals WHERE id = ?",
                                         (approval_id,))
        if row is None:
            raise NotFoundError(f"no approval with id {approval_id}")
        return _approval(row)

    async def query(self, include_resolved: bool = False) -> list[Approval]:
        where = "" if include_resolved else " WHERE state = 'pending'"
        rows = await self._store.fetchall(f"SELECT {_COLS} FROM approvals{where} ORDER BY id")
        return [_approval(r) for r in rows]

    async def _pending_for(self, name: str, kinds: tuple[str, ...] = APPROVAL_KINDS
                           ) -> list[Approval]:
        marks = ",".join("?" * len(kinds))
        rows = await self._store.fetchall(
            f"SELECT {_COLS} FROM approvals WHERE agent = ? AND state = 'pending' "
            f"AND kind IN ({marks}) ORDER BY id", (name, *kinds))
        return [_approval(r) for r in rows]

    # --- requests --------------------------------------------------------------------
    async def _check_name_free(self, name: str) -> None:
        """Refuse a new agent name that is taken, requested, drafted or kept."""
        validate_agent_name(name)
        if self._registry.find(name) is not None:
            raise ApprovalError(f"an agent named {name!r} already exists; names are unique")
        pending = await self._pending_for(name, SPAWN_KINDS)
        if pending:
            raise ApprovalError(f"spawning {name!r} is already requested (approval "
                                f"#{pending[0].id}); wait for the operator")
        await self.check_not_reserved(name)
        if await self.kept_agents.is_draft(name):
            raise ApprovalError(f"a draft named {name!r} exists; commit it with "
                                "request_spawn_commit")
        if await self.kept_agents.is_kept(name):
            raise ApprovalError(f"a kept agent named {name!r} exists; the operator can "
                                "revive or purge it")
        for taken in (self._paths.agent_dir(name), self._paths.agent_state(name)):
            if taken.is_symlink() or taken.exists():
                raise ApprovalError(f"{taken} exists already; the name {name!r} is not free")

    async def check_not_reserved(self, name: str) -> None:
        """Refuse to take ``name`` while an approval for it is being carried out."""
        busy = await self._run.journal.reserved(name)
        if busy is not None:
            raise ApprovalError(f"approval #{busy} for {name!r} is still being carried out; "
                                "try again when it is resolved")

    async def _queue(self, kind: str, name: str, requested_by: str, commit: str, diff: str,
                     detail: str) -> Approval:
        approval_id = await self._store.execute(
            "INSERT INTO approvals (kind, agent, commit_sha, diff, detail, requested_by, "
            "created_at) VALUES (?,?,?,?,?,?,?)",
            (kind, name, commit, diff, detail, requested_by, time.time()))
        await self.repos.pin(name, approval_id, commit)
        await self._audit.record(requested_by, f"request_{kind}", name,
                                 f"approval #{approval_id}: {detail}", commit)
        log.info("approval #%s queued: %s %s at %s by %s", approval_id, kind, name,
                 commit[:12], requested_by)
        self._hub.publish(ApprovalRequested(id=approval_id, kind=kind, agent=name,
                                            commit=commit))
        return await self.get(approval_id)

    async def request_spawn(self, requested_by: str, name: str, runtime: str | None) -> Approval:
        """One shot: a worker with the default config and an empty /state, once approved."""
        runtime = validate_runtime(runtime) if runtime is not None else self.default_runtime
        async with self._lock(name):
            await self._check_name_free(name)
            settings = AgentSettings(runtime=runtime, model=self.default_model)
            sha = await self.repos.build_commit(name, default_files(name, settings),
                                                f"default config for {name}")
            diff = await self.repos.diff(name, None, sha)
            return await self._queue("spawn", name, requested_by, sha, diff,
                                     f"spawn {name} (runtime {runtime}, model "
                                     f"{settings.model}) with the default config")

    async def request_spawn_draft(self, requested_by: str, name: str) -> Draft:
        """A proposed config repo (initial commit) and a state dir, no container."""
        async with self._lock(name):
            await self._check_name_free(name)
            settings = AgentSettings(runtime=self.default_runtime, model=self.default_model)
            sha = await self.repos.create(name, default_files(name, settings),
                                          f"draft: default config for {name}", apply=False)
            await asyncio.to_thread(beneath.make_dirs, self._paths.agents, f"{name}/state")
            # config and notes area are the manager's to edit, even if it is running now
            await asyncio.to_thread(share_owner, self._paths.agents, name)
            self.repos.write_draft_meta(name, requested_by)
            await self._audit.record(requested_by, "request_spawn_draft", name,
                                     "draft created", sha)
        self._hub.publish(AgentChanged(agent=name, what="draft"))
        return Draft(name=name, head=sha, created_at=self.repos.draft_created_at(name))

    async def request_spawn_commit(self, requested_by: str, name: str, commit: str) -> Approval:
        """Ask to spawn a draft from ``commit``; the diff is the whole draft."""
        validate_agent_name(name)
        async with self._lock(name):
            if self._registry.find(name) is not None:
                raise ApprovalError(f"an agent named {name!r} already exists; a draft is "
                                    "spawned once")
            pending = await self._pending_for(name, SPAWN_KINDS)
            if pending:
                raise ApprovalError(f"the draft {name!r} is already committed for approval "
                                    f"(#{pending[0].id}); wait for the operator's answer")
            await self.check_not_reserved(name)
            if not await self.kept_agents.is_draft(name):
                raise ApprovalError(f"no draft named {name!r}; create one with "
                                    "request_spawn_draft first")
            sha = await self.repos.import_commit(name, commit)
            settings = await self.repos.settings_at(name, sha)
            diff = await self.repos.diff(name, None, sha)
            return await self._queue("spawn_commit", name, requested_by, sha, diff,
                                     f"spawn draft {name} at {sha[:12]} (runtime "
                                     f"{settings.runtime}, model {settings.model})"
                                     + network_change(None, settings))

    async def request_apply_commit(self, requested_by: str, agent: str, commit: str
                                   ) -> Approval:
        """Ask to move ``agent``'s applied config to ``commit`` (then rebuild it)."""
        validate_agent_name(agent)
        async with self._lock(agent):
            if self._registry.find(agent) is None and not await self.kept_agents.is_kept(agent):
                if await self.kept_agents.is_draft(agent):
                    raise ApprovalError(f"{agent!r} is a draft: use request_spawn_commit")
                raise NotFoundError(f"no agent named {agent!r}")
            applied = await self.repos.applied(agent)
            if applied is None:
                raise ApprovalError(f"{agent!r} has no applied config repo to apply to")
            sha = await self.repos.import_commit(agent, commit)
            if sha == applied:
                raise ApprovalError(f"commit {sha[:12]} is already {agent}'s applied config")
            for p in await self._pending_for(agent, ("apply_commit",)):
                if p.commit == sha:
                    raise ApprovalError(f"applying {sha[:12]} to {agent} is already requested "
                                        f"(approval #{p.id})")
            settings = await self.repos.settings_at(agent, sha)
            before = await self.repos.settings_at(agent, applied)
            diff = await self.repos.diff(agent, applied, sha)
            return await self._queue("apply_commit", agent, requested_by, sha, diff,
                                     f"apply {sha[:12]} to {agent} (applied now "
                                     f"{applied[:12]})" + network_change(before, settings))

    # --- resolution ------------------------------------------------------------------
    async def _claim(self, approval_id: int, state: str, operator: str, reason: str,
                     step: str, detail: str) -> None:
        """Resolve a pending approval and record its first step, in one transaction."""
        async with self._store.transaction() as db:
            async with db.execute(
                "UPDATE approvals SET state = ?, resolved_at = ?, resolved_by = ?, reason = ? "
                "WHERE id = ? AND state = 'pending'",
                (state, time.time(), operator, reason, approval_id),
            ) as cur:
                changed = cur.rowcount
            if changed == 1:
                await db.execute(
                    "INSERT INTO approval_steps (approval_id, step, ts, detail) "
                    "VALUES (?,?,?,?)", (approval_id, step, time.time(), detail))
        if changed != 1:
            await self._refuse_resolved(approval_id)
        crash_if_injected(step)

    async def _refuse_resolved(self, approval_id: int) -> None:
        now = await self.get(approval_id)
        raise ApprovalError(f"approval #{approval_id} is already resolved ({now.state} by "
                            f"{now.resolved_by}); nothing was changed")

    async def approve(self, approval_id: int, operator: str) -> Approval:
        a = await self.get(approval_id)
        # carried out to the end even if the caller goes away: a claimed approval must not
        # stay half-done (and a core killed meanwhile resumes it: approval_run.py)
        await asyncio.shield(self._approve(a, operator))
        return await self.get(approval_id)

    async def _approve(self, a: Approval, operator: str) -> None:
        async with self._lock(a.agent):
            if (await self.get(a.id)).state != "pending":
                await self._refuse_resolved(a.id)
            try:
                before = await self._run.before(a)
            except HiveError as exc:
                # nothing was changed: resolved as failed at once, and the manager told
                await self._claim(a.id, "failed", operator, str(exc), step=FAILED,
                                  detail=str(exc))
                await self._audit.record(operator, "approve", a.agent,
                                         f"approval #{a.id} ({a.kind})", a.commit)
                await self._audit.record(operator, "approve_failed", a.agent,
                                         f"approval #{a.id}: {exc}", a.commit)
                log.warning("approval #%s (%s %s) failed: %s", a.id, a.kind, a.agent, exc)
                await self._run.carry_out(a, operator)
                raise ApprovalError(f"approval #{a.id} ({a.kind} {a.agent}) was approved but "
                                    f"failed: {exc}") from exc
            await self._claim(a.id, "approved", operator, "", step=APPROVED,
                              detail=before.to_json())
            await self._audit.record(operator, "approve", a.agent,
                                     f"approval #{a.id} ({a.kind})", a.commit)
            await self._run.carry_out(a, operator)

    async def deny(self, approval_id: int, operator: str, reason: str) -> Approval:
        if not isinstance(reason, str) or not reason.strip():
            raise ApprovalError("deny needs a reason: the manager receives it")
        a = await self.get(approval_id)
        await self._claim(approval_id, "denied", operator, reason.strip(), step=DENIED,
                          detail=reason.strip())
        await self._audit.record(operator, "deny", a.agent,
                                 f"approval #{a.id} ({a.kind}): {reason.strip()[:500]}",
                                 a.commit)
        await self._run.carry_out(a, operator)
        return await self.get(approval_id)

    async def resume(self) -> list[int]:
        """At start: finish (or roll back) every approval a previous core left half-way."""
        await asyncio.to_thread(self.repos.clear_stale_locks)
        return await self._run.resume(self.get, self._lock)

    # --- drafts and kept state -------------------------------------------------------
    async def drafts(self) -> list[Draft]:
        return await self.kept_agents.drafts()

    async def kept(self) -> list[str]:
        return await self.kept_agents.kept()

    async def revive(self, name: str, operator: str) -> AgentView:
        async with self._lock(name):
            await self.check_not_reserved(name)
            return await self.kept_agents.revive(name, operator)

    async def purge(self, name: str, operator: str) -> None:
        async with self._lock(name):
            await self.check_not_reserved(name)
            await self.kept_agents.purge(name, operator)
