"""What is left of agents without a container: spawn drafts and kept (destroyed) agents.

An agent dir ``<state>/agents/<name>`` of no registered agent is

* a **draft** when it has a proposed config repo but no applied config yet
  (``request_spawn_draft`` made it; the manager edits it before ``request_spawn_commit``);
* **kept** when it has a state dir (``states/<name>``, outside the manager's view) and is
  not a draft: a destroyed agent, revivable with the same state and its applied config,
  or purged for good.
"""

from __future__ import annotations

import asyncio
import logging

from hivetui.core import beneath
from hivetui.core.audit import AuditLog
from hivetui.core.errors import ApprovalError, ContainerError, NotFoundError, RegistryError
from hivetui.core.events import AgentChanged, EventHub
from hivetui.core.lifecycle import Lifecycle
from hivetui.core.names import is_agent_name, validate_agent_name
from hivetui.core.paths import StatePaths
from hivetui.core.registry import Agent, Registry
from hivetui.core.repos import ConfigRepos
from hivetui.core.store import Store
from hivetui.core.views import AgentView, Draft

log = logging.getLogger(__name__)


class KeptAgents:
    def __init__(self, store: Store, registry: Registry, paths: StatePaths, hub: EventHub,
                 audit: AuditLog, lifecycle: Lifecycle | None, repos: ConfigRepos) -> None:
        self._store = store
        self._registry = registry
        self._paths = paths
        self._hub = hub
        self._audit = audit
        self._lifecycle = lifecycle
        self._repos = repos

    def _candidates(self) -> list[str]:
        """Directories of no registered agent. ``agents/`` is the manager's to write: an
        entry whose name breaks the agent-name rule can never be spawned and is not
        listed (its name, shown, could carry anything)."""
        names: set[str] = set()
        for top in (self._paths.agents, self._paths.states):
            if top.exists():
                names.update(p.name for p in top.iterdir()
                             if is_agent_name(p.name) and p.is_dir()
                             and self._registry.find(p.name) is None)
        return sorted(names)

    async def is_draft(self, name: str) -> bool:
        return (self._registry.find(name) is None
                and (self._repos.proposed_dir(name) / ".git").exists()
                and await self._repos.applied(name) is None)

    async def is_kept(self, name: str) -> bool:
        return (self._registry.find(name) is None
                and self._paths.agent_state(name).is_dir()
                and not await self.is_draft(name))

    async def drafts(self) -> list[Draft]:
        found = []
        for name in self._candidates():
            if await self.is_draft(name):
                found.append(Draft(name=name, head=await self._repos.proposed_head(name),
                                   created_at=self._repos.draft_created_at(name)))
        return found

    async def kept(self) -> list[str]:
        return [name for name in self._candidates() if await self.is_kept(name)]

    async def _pending(self, name: str) -> list[int]:
        rows = await self._store.fetchall(
            "SELECT id FROM approvals WHERE agent = ? AND state = 'pending' ORDER BY id", (name,))
        return [int(r[0]) for r in rows]

    async def revive(self, name: str, operator: str) -> AgentView:
        """A new container for a kept agent: same state dir, same applied config."""
        validate_agent_name(name)
        if not await self.is_kept(name):
            raise NotFoundError(f"no kept agent named {name!r} (see `hivetui ctl kept`)")
        if self._lifecycle is None:
            raise ContainerError("this hive runs without a container backend: cannot revive")
        row = await self._store.fetchone(
            "SELECT role, runtime, model FROM agents WHERE name = ?", (name,))
        role, runtime, model = (str(row[0]), str(row[1]), str(row[2])) if row else \
            ("worker", "", "")
        applied = await self._repos.applied(name)
        if applied is not None:
            settings = await self._repos.settings_at(name, applied)
            runtime, model = settings.runtime, settings.model
        if not runtime or not model:
            raise RegistryError(f"kept agent {name!r} has neither an applied config nor a "
                                "record of its runtime; purge it and spawn anew")
        await self._audit.record(operator, "revive", name, f"role={role} runtime={runtime}",
                                 applied or "")
        agent = await self._lifecycle.spawn(name, runtime=runtime, model=model, role=role)
        log.info("%s revived by %s at config %s", name, operator, applied)
        return await self.view(agent)

    async def purge(self, name: str, operator: str) -> None:
        """Delete a kept agent's (or a draft's) state, config and applied repo for good."""
        validate_agent_name(name)
        if self._registry.find(name) is not None:
            raise RegistryError(f"{name!r} is a live agent: destroy it first, then purge")
        draft = await self.is_draft(name)
        if not draft and not await self.is_kept(name):
            raise NotFoundError(f"no kept agent or draft named {name!r} (see `hivetui ctl "
                                "kept`)")
        pending = await self._pending(name)
        if pending:
            raise ApprovalError(f"{name!r} has pending approval #{pending[0]}: approve or deny "
                                "it before purging")
        applied = await self._repos.applied(name)
        await self._audit.record(operator, "purge", name, "draft" if draft else "kept",
                                 applied or "")
        for top in (self._paths.agents, self._paths.states):
            await asyncio.to_thread(beneath.remove, top, name)
        await self._repos.remove(name)
        log.info("%s purged by %s", name, operator)
        self._hub.publish(AgentChanged(agent=name, what="purged"))

    async def view(self, agent: Agent) -> AgentView:
        row = await self._store.fetchone(
            "SELECT COUNT(*) FROM messages WHERE recipient = ? AND delivered_at IS NULL",
            (agent.name,))
        return AgentView(
            name=agent.name, role=agent.role, runtime=agent.runtime, model=agent.model,
            model_override=agent.model_override, state=agent.state, status=agent.status,
            status_detail=agent.status_detail, crash_looping=agent.crash_looping,
            created_at=agent.created_at, last_turn_at=agent.last_turn_at,
            inbox_depth=int(row[0]) if row else 0,
            flags=tuple(sorted(f.value for f in self._registry.flags(agent.name))),
        )
