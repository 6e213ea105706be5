"""Approvals, config repos, spawn flow and kept state (issue 5 fills this in)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from hivetui.core.audit import AuditLog
from hivetui.core.errors import NotAvailableError
from hivetui.core.events import EventHub, ManagerEvent
from hivetui.core.lifecycle import Lifecycle
from hivetui.core.paths import StatePaths
from hivetui.core.registry import Registry
from hivetui.core.store import Store
from hivetui.core.views import AgentView, Approval, Draft

log = logging.getLogger(__name__)

_LATER = "approvals and config repos arrive with the approvals issue"


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

    async def request_spawn(self, requested_by: str, name: str, runtime: str | None) -> Approval:
        raise NotAvailableError(_LATER)

    async def request_spawn_draft(self, requested_by: str, name: str) -> Draft:
        raise NotAvailableError(_LATER)

    async def request_spawn_commit(self, requested_by: str, name: str, commit: str) -> Approval:
        raise NotAvailableError(_LATER)

    async def request_apply_commit(self, requested_by: str, agent: str, commit: str
                                   ) -> Approval:
        raise NotAvailableError(_LATER)

    async def query(self, include_resolved: bool = False) -> list[Approval]:
        return []

    async def approve(self, approval_id: int, operator: str) -> Approval:
        raise NotAvailableError(_LATER)

    async def deny(self, approval_id: int, operator: str, reason: str) -> Approval:
        raise NotAvailableError(_LATER)

    async def drafts(self) -> list[Draft]:
        return []

    async def kept(self) -> list[str]:
        return []

    async def revive(self, name: str, operator: str) -> AgentView:
        raise NotAvailableError(_LATER)

    async def purge(self, name: str, operator: str) -> None:
        raise NotAvailableError(_LATER)
