"""What the app knows of the hive: agents and pending counts, refreshed from the API.

The event pump (``pump.py``) collects what changed into a :class:`Pending` batch and asks
:meth:`HiveState.apply` to re-read just that; screens read the result from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hivetui.core.api import HiveAPI
from hivetui.core.errors import NotFoundError
from hivetui.core.events import MessageSent
from hivetui.core.views import AgentView

log = logging.getLogger(__name__)

#: Above this many changed agents one ``agents()`` call is cheaper than many ``agent()``.
BULK_THRESHOLD = 24


@dataclass
class Pending:
    """What the events since the last refresh touched."""

    agents: set[str] = field(default_factory=set)
    telemetry: set[str] = field(default_factory=set)
    messages: list[MessageSent] = field(default_factory=list)
    counts: bool = False
    full: bool = False

    def __bool__(self) -> bool:
        return bool(self.agents or self.telemetry or self.messages or self.counts or self.full)


@dataclass(frozen=True)
class Changes:
    """One coalesced refresh, as screens see it."""

    changed: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    added: frozenset[str] = frozenset()
    telemetry: frozenset[str] = frozenset()
    messages: tuple[MessageSent, ...] = ()
    counts: bool = False
    full: bool = False


class HiveState:
    """Agents by name and the pending approval / question counts."""

    def __init__(self, api: HiveAPI) -> None:
        self.api = api
        self.agents: dict[str, AgentView] = {}
        self.approvals_pending = 0
        self.questions_pending = 0
        self.loaded = False

    async def load(self) -> Changes:
        return await self.apply(Pending(counts=True, full=True))

    async def apply(self, pending: Pending) -> Changes:
        changed: set[str] = set()
        removed: set[str] = set()
        before = set(self.agents)
        if pending.full or len(pending.agents) > BULK_THRESHOLD:
            fresh = {view.name: view for view in await self.api.agents()}
            removed = set(self.agents) - set(fresh)
            changed = {name for name, view in fresh.items() if self.agents.get(name) != view}
            self.agents = fresh
        else:
            for name in sorted(pending.agents):
                try:
                    view = await self.api.agent(name)
                except NotFoundError:
                    if self.agents.pop(name, None) is not None:
                        removed.add(name)
                    continue
                if self.agents.get(name) != view:
                    self.agents[name] = view
                    changed.add(name)
        if pending.counts:
            self.approvals_pending = len(await self.api.approvals())
            self.questions_pending = len(await self.api.questions())
        self.loaded = True
        return Changes(frozenset(changed), frozenset(removed), frozenset(changed - before),
                       frozenset(pending.telemetry), tuple(pending.messages), pending.counts,
                       pending.full)
