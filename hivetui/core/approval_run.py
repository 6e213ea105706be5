"""Carrying out a resolved approval as a crash-safe state machine.

Every step is recorded in ``approval_steps`` (one row per step reached) once it is done:

* approved: ``approved`` → ``config_applied`` → ``container_built`` → ``started`` →
  ``manager_told`` → ``pin_removed``;
* a step failed: ``failed`` (the approval's state and reason) → ``rolled_back`` →
  ``manager_told`` → ``pin_removed``;
* denied: ``denied`` → ``manager_told`` → ``pin_removed``.

``approved`` and ``denied`` are written in the same transaction as the resolution, with
what a roll-back needs (the previous applied commit, runtime and model). Each step is
idempotent, so a core killed at any instant resumes at start (:meth:`ApprovalRun.resume`)
from the step after the last one recorded; a step that fails -- then or now -- rolls the
change back, and the manager hears ``approval_resolved`` with ``failed`` and the reason.
Nothing stays half-applied and nothing goes untold: telling the manager is checked against
its inbox, so a core killed between the message and its record does not tell it twice.

While an approval is unfinished its agent name stays reserved (:meth:`StepJournal.reserved`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from hivetui.core import beneath
from hivetui.core.audit import AuditLog
from hivetui.core.errors import ApprovalError, ContainerError, HiveError
from hivetui.core.events import ApprovalResolved, ManagerEvent
from hivetui.core.kept import KeptAgents
from hivetui.core.kinds import ApprovalResult
from hivetui.core.lifecycle import Lifecycle
from hivetui.core.names import SYSTEM
from hivetui.core.paths import StatePaths
from hivetui.core.registry import Registry
from hivetui.core.repos import ConfigRepos
from hivetui.core.store import Store
from hivetui.core.views import Approval

log = logging.getLogger(__name__)

APPROVED: Final = "approved"
DENIED: Final = "denied"
FAILED: Final = "failed"
CONFIG_APPLIED, CONTAINER_BUILT, STARTED = "config_applied", "container_built", "started"
ROLLED_BACK, MANAGER_TOLD, PIN_REMOVED = "rolled_back", "manager_told", "pin_removed"
FORWARD = (CONFIG_APPLIED, CONTAINER_BUILT, STARTED)

#: fault injection for the crash tests: the core exits (as if killed) right after
#: recording this step; never set outside tests
CRASH_AFTER_STEP_ENV = "HIVETUI_TEST_CRASH_AFTER_STEP"


def crash_if_injected(step: str) -> None:
    """The fault-injection point of the crash tests (see ``CRASH_AFTER_STEP_ENV``)."""
    if os.environ.get(CRASH_AFTER_STEP_ENV) == step:
        os._exit(137)


class StepJournal:
    """The ``approval_steps`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(self, approval_id: int, step: str, detail: str = "") -> None:
        await self._store.execute(
            "INSERT OR IGNORE INTO approval_steps (approval_id, step, ts, detail) "
            "VALUES (?,?,?,?)", (approval_id, step, time.time(), detail))
        crash_if_injected(step)

    async def steps(self, approval_id: int) -> dict[str, str]:
        rows = await self._store.fetchall(
            "SELECT step, detail FROM approval_steps WHERE approval_id = ?", (approval_id,))
        return {str(r[0]): str(r[1]) for r in rows}

    async def unfinished(self) -> list[int]:
        rows = await self._store.fetchall(
            "SELECT approval_id FROM approval_steps GROUP BY approval_id "
            "HAVING SUM(step = ?) = 0 ORDER BY approval_id", (PIN_REMOVED,))
        return [int(r[0]) for r in rows]

    async def reserved(self, name: str) -> int | None:
        """The id of an approval for ``name`` still being carried out, if any."""
        row = await self._store.fetchone(
            "SELECT a.id FROM approvals a WHERE a.agent = ? AND EXISTS (SELECT 1 FROM "
            "approval_steps s WHERE s.approval_id = a.id) AND NOT EXISTS (SELECT 1 FROM "
            "approval_steps s WHERE s.approval_id = a.id AND s.step = ?) ORDER BY a.id",
            (name, PIN_REMOVED))
        return int(row[0]) if row else None


@dataclass(frozen=True)
class Before:
    """What the hive looked like when the approval was resolved (for a roll-back)."""

    applied: str | None = None
    runtime: str = ""
    model: str = ""
    registered: bool = False
    was_running: bool = False

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Before:
        try:
            data: dict[str, Any] = json.loads(text) if text else {}
        except ValueError:
            data = {}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class ApprovalRun:
    """Carries out (and resumes, and rolls back) resolved approvals step by step."""

    def __init__(self, store: Store, registry: Registry, paths: StatePaths, audit: AuditLog,
                 lifecycle: Lifecycle | None, repos: ConfigRepos, kept_agents: KeptAgents,
                 notify: Callable[[ManagerEvent], Awaitable[None]]) -> None:
        self._store = store
        self._registry = registry
        self._paths = paths
        self._audit = audit
        self._lifecycle = lifecycle
        self._repos = repos
        self._kept = kept_agents
        self._notify = notify
        self.journal = StepJournal(store)

    # --- what a resolution needs -------------------------------------------------------
    async def before(self, a: Approval) -> Before:
        """Check that ``a`` can be carried out now (ApprovalError if not), and describe the
        hive as it is, for a roll-back."""
        if a.kind == "apply_commit":
            return await self._check_apply(a)
        await self._check_spawn(a)
        return Before()

    async def _check_apply(self, a: Approval) -> Before:
        current = await self._repos.applied(a.agent)
        if current is None:
            raise ApprovalError(f"{a.agent} has no applied config any more (purged?)")
        if await self._repos.diff(a.agent, current, a.commit) != a.diff:
            raise ApprovalError(
                f"{a.agent}'s applied config moved to {current[:12]} since this request, so "
                "the reviewed diff is stale; the manager must request again")
        await self._repos.settings_at(a.agent, a.commit)
        agent = self._registry.find(a.agent)
        if agent is None:
            return Before(applied=current)
        return Before(applied=current, runtime=agent.runtime, model=agent.model,
                      registered=True, was_running=agent.state == "running")

    async def _check_spawn(self, a: Approval) -> None:
        name = a.agent
        if self._lifecycle is None:
            raise ContainerError("this hive runs without a container backend: cannot spawn")
        if self._registry.find(name) is not None:
            raise ApprovalError(f"an agent named {name!r} exists by now")
        await self._repos.settings_at(name, a.commit)
        state = self._paths.agent_state(name)
        if state.is_symlink() or state.exists():
            raise ApprovalError(f"{state} exists by now; the name {name!r} is not free")
        if a.kind == "spawn":
            if self._paths.agent_dir(name).exists():
                raise ApprovalError(f"{self._paths.agent_dir(name)} exists by now; the name "
                                    "is not free")
        elif not await self._kept.is_draft(name):
            raise ApprovalError(f"{name!r} is no longer a draft")

    # --- running -----------------------------------------------------------------------
    async def carry_out(self, a: Approval, operator: str) -> None:
        """Run every step ``a`` has not reached yet; a failing step rolls back and raises
        ApprovalError (the approval is then ``failed``, and the manager told so)."""
        steps = await self.journal.steps(a.id)
        if DENIED not in steps and FAILED not in steps:
            try:
                await self._forward(a, steps)
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                await self._fail(a, operator, reason)
                steps = await self.journal.steps(a.id)
                await self._conclude(a, steps)
                if isinstance(exc, HiveError):
                    raise ApprovalError(f"approval #{a.id} ({a.kind} {a.agent}) was approved "
                                        f"but failed: {reason}") from exc
                raise
        elif FAILED in steps and ROLLED_BACK not in steps:
            await self._roll_back(a, steps)
            steps = await self.journal.steps(a.id)
        await self._conclude(a, steps)

    async def _forward(self, a: Approval, steps: dict[str, str]) -> None:
        before = Before.from_json(steps.get(APPROVED, ""))
        actions = {
            "apply_commit": (self._apply_config, self._rebuild, self._restart_if_ran),
            "spawn": (self._spawn_config, self._build, self._start),
            "spawn_commit": (self._spawn_config, self._build, self._start),
        }[a.kind]
        for step, action in zip(FORWARD, actions, strict=True):
            if step not in steps:
                await action(a, before)
                await self.journal.record(a.id, step)

    async def _fail(self, a: Approval, operator: str, reason: str) -> None:
        log.warning("approval #%s (%s %s) failed: %s", a.id, a.kind, a.agent, reason)
        async with self._store.transaction() as db:
            await db.execute("UPDATE approvals SET state = 'failed', reason = ? WHERE id = ?",
                             (reason, a.id))
            await db.execute("INSERT OR IGNORE INTO approval_steps (approval_id, step, ts, "
                             "detail) VALUES (?,?,?,?)", (a.id, FAILED, time.time(), reason))
        crash_if_injected(FAILED)
        await self._audit.record(operator, "approve_failed", a.agent,
                                 f"approval #{a.id}: {reason}", a.commit)
        await self._roll_back(a, await self.journal.steps(a.id))

    async def _conclude(self, a: Approval, steps: dict[str, str]) -> None:
        if MANAGER_TOLD not in steps:
            await self._tell(a, steps)
            await self.journal.record(a.id, MANAGER_TOLD)
        if PIN_REMOVED not in steps:
            await self._repos.unpin(a.agent, a.id)
            await self.journal.record(a.id, PIN_REMOVED)

    async def _tell(self, a: Approval, steps: dict[str, str]) -> None:
        manager = self._registry.manager()
        if manager is not None and await self._told(manager.name, a.id):
            return  # told before the core went down, not yet recorded
        result: ApprovalResult
        if FAILED in steps:
            result, reason = FAILED, steps[FAILED]
            if steps.get(ROLLED_BACK):
                reason += f" (rolling back: {steps[ROLLED_BACK]})"
        elif DENIED in steps:
            result, reason = DENIED, steps[DENIED]
        else:
            result, reason = APPROVED, ""
        await self._notify(ApprovalResolved(id=a.id, kind=a.kind, result=result,
                                            reason=reason, commit=a.commit, agent=a.agent))

    async def _told(self, manager: str, approval_id: int) -> bool:
        # CASE: json_extract must never see a body that is not JSON (it raises)
        row = await self._store.fetchone(
            "SELECT 1 FROM messages WHERE recipient = ? AND sender = ? AND kind = 'system' "
            "AND CASE WHEN json_valid(body) THEN json_extract(body, '$.event') = "
            "'approval_resolved' AND json_extract(body, '$.id') = ? END LIMIT 1",
            (manager, SYSTEM, approval_id))
        return row is not None

    # --- apply_commit --------------------------------------------------------------------
    def _need_lifecycle(self) -> Lifecycle:
        if self._lifecycle is None:
            raise ContainerError("this hive runs without a container backend")
        return self._lifecycle

    async def _apply_config(self, a: Approval, before: Before) -> None:
        settings = await self._repos.settings_at(a.agent, a.commit)
        agent = self._registry.find(a.agent)
        if agent is not None and (agent.runtime, agent.model) != (settings.runtime,
                                                                   settings.model):
            await self._registry.update(a.agent, runtime=settings.runtime,
                                        model=settings.model)
        current = await self._repos.applied(a.agent)
        if current != a.commit:
            await self._repos.move_applied(a.agent, a.commit, before.applied)

    def _has_container(self, name: str, before: Before) -> bool:
        """A kept agent (or a hive without a backend) has no container to rebuild: its
        next start uses the new config."""
        return before.registered and self._lifecycle is not None \
            and self._registry.find(name) is not None

    async def _rebuild(self, a: Approval, before: Before) -> None:
        if self._has_container(a.agent, before):
            await self._need_lifecycle().rebuild(a.agent)

    async def _restart_if_ran(self, a: Approval, before: Before) -> None:
        if self._has_container(a.agent, before) and before.was_running:
            await self._ensure_running(a.agent)

    async def _ensure_running(self, name: str) -> None:
        lifecycle = self._need_lifecycle()
        if name not in await lifecycle.backend.running():
            await lifecycle.start(name)
        elif self._registry.get(name).state != "running":
            await self._registry.update(name, state="running")

    # --- spawn / spawn_commit ------------------------------------------------------------
    async def _spawn_config(self, a: Approval, before: Before) -> None:
        """The applied config at the reviewed commit, and the agent's first state: a fresh
        start each time (anything there is what a killed attempt left)."""
        name = a.agent
        # agents/ is the manager's: no link there is ever followed (see beneath)
        agents, states = self._paths.agents, self._paths.states
        await asyncio.to_thread(beneath.remove, states, name)
        if a.kind == "spawn":
            await asyncio.to_thread(beneath.remove, agents, name)
            await self._repos.create_proposed(name, a.commit)
            await asyncio.to_thread(beneath.make_dirs, agents, f"{name}/state")
        if a.kind == "spawn_commit" and beneath.is_plain_dir(agents, f"{name}/state"):
            # the manager's prepared notes; the real state lives outside its writable view
            await asyncio.to_thread(beneath.copy_plain_tree, agents, f"{name}/state",
                                    states, name)
        else:
            await asyncio.to_thread(beneath.make_dirs, states, name)
        if await self._repos.applied(name) != a.commit:
            await self._repos.move_applied(name, a.commit, None)

    async def _build(self, a: Approval, before: Before) -> None:
        lifecycle = self._need_lifecycle()
        if self._registry.find(a.agent) is None:
            settings = await self._repos.settings_at(a.agent, a.commit)
            await self._registry.create(a.agent, role="worker", runtime=settings.runtime,
                                        model=settings.model)
        if a.agent not in await lifecycle.backend.running():
            await lifecycle.build(a.agent)

    async def _start(self, a: Approval, before: Before) -> None:
        await self._ensure_running(a.agent)
        if a.kind == "spawn_commit":
            # the draft area becomes the empty mountpoint of the manager's read-only view
            await asyncio.to_thread(beneath.empty_dir, self._paths.agents, f"{a.agent}/state")

    # --- rolling back --------------------------------------------------------------------
    async def _roll_back(self, a: Approval, steps: dict[str, str]) -> None:
        """Undo whatever of ``a`` was done (idempotent); what could not be undone is
        recorded with the step and reported to the manager with the failure."""
        before = Before.from_json(steps.get(APPROVED, ""))
        problems: list[str] = []
        if APPROVED in steps:
            undo = self._undo_apply if a.kind == "apply_commit" else self._undo_spawn
            await undo(a, before, problems)
        await self.journal.record(a.id, ROLLED_BACK, "; ".join(problems))

    async def _attempt(self, what: str, action: Awaitable[object], problems: list[str]
                       ) -> None:
        try:
            await action
        except Exception as exc:
            log.exception("roll-back: could not %s", what)
            problems.append(f"could not {what}: {exc}")

    async def _undo_spawn(self, a: Approval, before: Before, problems: list[str]) -> None:
        name = a.agent
        if self._lifecycle is not None:
            await self._attempt(f"remove {name}'s container", self._lifecycle.unbuild(name),
                                problems)
        if await self._repos.applied(name) == a.commit:
            await self._attempt("restore the applied config",
                                self._repos.move_applied(name, None, a.commit), problems)
        await asyncio.to_thread(beneath.remove, self._paths.states, name)
        if a.kind == "spawn":
            await asyncio.to_thread(beneath.remove, self._paths.agents, name)

    async def _undo_apply(self, a: Approval, before: Before, problems: list[str]) -> None:
        name = a.agent
        if await self._repos.applied(name) == a.commit and before.applied is not None:
            await self._attempt("restore the applied config",
                                self._repos.move_applied(name, before.applied, a.commit),
                                problems)
        agent = self._registry.find(name)
        if agent is None or not before.registered:
            return
        if (agent.runtime, agent.model) != (before.runtime, before.model):
            await self._registry.update(name, runtime=before.runtime, model=before.model)
        if self._lifecycle is None:
            return
        # the container may have been rebuilt from the new config: build it from the old
        await self._attempt(f"rebuild {name} from its previous config",
                            self._lifecycle.rebuild(name), problems)
        if before.was_running:
            await self._attempt(f"start {name} again", self._ensure_running(name), problems)

    # --- at start ------------------------------------------------------------------------
    async def resume(self, get: Callable[[int], Awaitable[Approval]],
                     lock: Callable[[str], asyncio.Lock]) -> list[int]:
        """Finish every approval a previous core left unfinished; their ids."""
        ids = await self.journal.unfinished()
        for approval_id in ids:
            a = await get(approval_id)
            log.warning("approval #%s (%s %s) was left unfinished: resuming", a.id, a.kind,
                        a.agent)
            async with lock(a.agent):
                try:
                    await self.carry_out(a, "core")
                except HiveError as exc:
                    log.warning("%s", exc)
                except Exception:  # one broken approval must not keep the core from starting
                    log.exception("approval #%s could not be resumed", a.id)
        return ids
