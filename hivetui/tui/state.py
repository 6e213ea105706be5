"""What the app knows of the hive: agents and pending counts, refreshed from the API.

The event pump (``pump.py``) collects what changed into a :class:`Pending` batch and asks
:meth:`HiveState.apply` to re-read just that; screens read the result from here.
"""

from __future__ import annotations

import asyncio
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
        """Re-read what ``pending`` names; the pending counts are read alongside the agents
        (one round trip across a control socket, not three)."""
        before = set(self.agents)
        if pending.counts:
            (changed, removed), approvals, questions = await asyncio.gather(
                self._read_agents(pending), self.api.approvals(), self.api.questions())
            self.approvals_pending, self.questions_pending = len(approvals), len(questions)
        else:
            changed, removed = await self._read_agents(pending)
        self.loaded = True
        return Changes(frozenset(changed), frozenset(removed), frozenset(changed - before),
                       frozenset(pending.telemetry), tuple(pending.messages), pending.counts,
                       pending.full)

    async def _read_agents(self, pending: Pending) -> tuple[set[str], set[str]]:
        """Re-read the agents ``pending`` names (all of them past BULK_THRESHOLD): the
        (changed, removed) names."""
        changed: set[str] = set()
        removed: set[str] = set()
        if pending.full or len(pending.agents) > BULK_THRESHOLD:
            fresh = {view.name: view for view in await self.api.agents()}
            removed = set(self.agents) - set(fresh)
            changed = {name for name, view in fresh.items() if self.agents.get(name) != view}
            self.agents = fresh
            return changed, removed
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
        return changed, removed
