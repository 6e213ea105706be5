"""An operator's session on an in-process hive: the embedded implementation of HiveAPI.

Every mutating call checks the operator's role (read-only operators are refused) and
lands in the audit log under the operator's name.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hivetui.core import beneath
from hivetui.core.errors import ContainerError, HiveError, NotAvailableError, PermissionDenied
from hivetui.core.events import RECENT_EVENTS
from hivetui.core.names import OPERATOR, validate_agent_name, validate_model, validate_runtime
from hivetui.core.views import AgentView, Approval, AuditEntry, Draft, Question

if TYPE_CHECKING:  # `Operator` alone is what a control client (attach, ctl) needs
    from hivetui.core.api import Series
    from hivetui.core.bus import BusMessage
    from hivetui.core.events import Event
    from hivetui.core.hive import Hive
    from hivetui.core.lifecycle import Lifecycle
    from hivetui.core.registry import Agent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Operator:
    name: str
    read_only: bool = False

    @classmethod
    def local(cls) -> Operator:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "local"
        return cls(f"local:{user}")


def agent_view(hive: Hive, agent: Agent) -> AgentView:
    return AgentView(
        name=agent.name, role=agent.role, runtime=agent.runtime, model=agent.model,
        model_override=agent.model_override, state=agent.state, status=agent.status,
        status_detail=agent.status_detail, crash_looping=agent.crash_looping,
        created_at=agent.created_at, last_turn_at=agent.last_turn_at,
        inbox_depth=hive.bus.depth(agent.name),
        flags=tuple(sorted(f.value for f in hive.registry.flags(agent.name))),
        dead_letters=hive.bus.dead_count(agent.name),
    )


class OperatorSession:
    """HiveAPI over a Hive in this process, acting as ``who``."""

    def __init__(self, hive: Hive, who: Operator) -> None:
        self.hive = hive
        self.who = who

    @property
    def operator(self) -> str:
        return self.who.name

    @property
    def read_only(self) -> bool:
        return self.who.read_only

    def _write(self, action: str) -> None:
        if self.who.read_only:
            raise PermissionDenied(
                f"operator {self.who.name!r} is read-only: {action} is refused "
                "(read-only operators may look but not change the hive)"
            )

    def _lifecycle(self) -> Lifecycle:
        if self.hive.lifecycle is None:
            raise ContainerError("this hive runs without a container backend")
        return self.hive.lifecycle

    async def _act(self, action: str, target: str, detail: str = "") -> None:
        self._write(f"{action} {target}".strip())
        await self.hive.audit.record(self.who.name, action, target, detail)

    # --- agents ----------------------------------------------------------------
    async def agents(self) -> list[AgentView]:
        return [agent_view(self.hive, a) for a in self.hive.registry.all()]

    async def agent(self, name: str) -> AgentView:
        return agent_view(self.hive, self.hive.registry.get(name))

    async def spawn(self, name: str, runtime: str | None = None, manager: bool = False
                    ) -> AgentView:
        validate_agent_name(name)
        if runtime is not None:
            validate_runtime(runtime)
        self._write(f"spawn {name}")
        if name in await self.hive.approvals.kept():
            raise HiveError(f"{name!r} is a kept agent: revive it (`hivetui ctl revive "
                            f"{name}`) or purge it first; spawn never reuses kept state")
        if any(d.name == name for d in await self.hive.approvals.drafts()):
            raise HiveError(f"{name!r} is a spawn draft: approve its spawn request or purge "
                            "the draft first")
        await self.hive.approvals.check_not_reserved(name)
        await self._act("spawn", name, f"runtime={runtime or ''} manager={manager}")
        cfg = self.hive.config.harness
        agent = await self._lifecycle().spawn(
            name, runtime=runtime or cfg.default_runtime, model=cfg.default_model,
            role="manager" if manager else "worker",
        )
        return agent_view(self.hive, agent)

    async def start(self, name: str) -> None:
        await self._act("start", name)
        await self._lifecycle().start(name)
        await self._clear_crash_loop(name)

    async def stop(self, name: str) -> None:
        await self._act("stop", name)
        await self._lifecycle().stop(name)

    async def restart(self, name: str) -> None:
        await self._act("restart", name)
        await self._lifecycle().restart(name)
        await self._clear_crash_loop(name)

    async def _clear_crash_loop(self, name: str) -> None:
        """An operator's start/restart acknowledges a crash loop (the manager's does not)."""
        if self.hive.registry.get(name).crash_looping:
            await self.hive.registry.update(name, crash_looping=False)

    async def destroy(self, name: str) -> None:
        await self._act("destroy", name)
        await self._lifecycle().destroy(name)

    async def rebuild(self, name: str) -> None:
        await self._act("rebuild", name)
        await self._lifecycle().rebuild(name)

    async def set_model(self, name: str, model: str, persist: bool = False) -> AgentView:
        self.hive.registry.get(name)
        validate_model(model)
        await self._act("set_model", name, f"{model}{' (persist)' if persist else ''}")
        agent = await self.hive.registry.update(name, model_override=model)
        if persist:
            # the agent's own /state: nothing there is followed (see beneath)
            self.hive.paths.agent_state(name).mkdir(parents=True, exist_ok=True)
            beneath.write_file(self.hive.paths.states, f"{name}/model", model + "\n")
        return agent_view(self.hive, agent)

    async def logs(self, name: str, lines: int = 200) -> list[str]:
        self.hive.registry.get(name)
        return await self._lifecycle().backend.logs(name, lines)

    def follow_logs(self, name: str) -> AsyncIterator[str]:
        return self._lifecycle().backend.follow_logs(name)

    async def shell_argv(self, name: str) -> list[str]:
        self._write(f"open a terminal in {name}")
        self.hive.registry.get(name)
        await self.hive.audit.record(self.who.name, "terminal", name)
        return self._lifecycle().backend.shell_argv(name)

    # --- messages ----------------------------------------------------------------
    async def send(self, name: str, text: str) -> BusMessage:
        self._write(f"send to {name}")
        return await self.hive.bus.send(OPERATOR, name, text)

    async def inbox(self, name: str, limit: int = 100, dead: bool = False) -> list[BusMessage]:
        """Recent messages to/from ``name``; with ``dead``, its messages set aside after
        harness.max_attempts failed turns."""
        if name != OPERATOR:
            self.hive.registry.get(name)
        if dead:
            return await self.hive.bus.dead(name, limit)
        return await self.hive.bus.history(name, limit)

    # --- approvals, questions, kept state --------------------------------------
    async def approvals(self, include_resolved: bool = False) -> list[Approval]:
        return await self.hive.approvals.query(include_resolved)

    async def approve(self, approval_id: int) -> Approval:
        self._write(f"approve #{approval_id}")
        return await self.hive.approvals.approve(approval_id, self.who.name)

    async def deny(self, approval_id: int, reason: str) -> Approval:
        self._write(f"deny #{approval_id}")
        return await self.hive.approvals.deny(approval_id, self.who.name, reason)

    async def questions(self, include_answered: bool = False) -> list[Question]:
        return await self.hive.questions.query(include_answered)

    async def answer(self, question_id: int, text: str) -> Question:
        self._write(f"answer #{question_id}")
        return await self.hive.questions.answer(question_id, self.who.name, text)

    async def drafts(self) -> list[Draft]:
        return await self.hive.approvals.drafts()

    async def kept(self) -> list[str]:
        return await self.hive.approvals.kept()

    async def revive(self, name: str) -> AgentView:
        self._write(f"revive {name}")
        return await self.hive.approvals.revive(name, self.who.name)

    async def purge(self, name: str, confirm: str) -> None:
        self._write(f"purge {name}")
        if confirm != name:
            raise HiveError(f"purge deletes {name}'s state for good: confirm by giving its "
                            "name again")
        await self.hive.approvals.purge(name, self.who.name)

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        return await self.hive.audit.query(limit)

    # --- telemetry and events ----------------------------------------------------
    async def stats(self, name: str, since_s: float = 3600.0,
                    keys: list[str] | None = None, max_points: int | None = 600) -> Series:
        if name != "_hive":
            self.hive.registry.get(name)
        await self.hive.telemetry.flush()
        if not 0 < since_s <= 366 * 86400:
            raise HiveError(f"since must be from 0 to a year in seconds, got {since_s}")
        return await self.hive.telemetry.query(name, since_s, keys, max_points=max_points)

    async def recent_events(self, limit: int = 50) -> list[Event]:
        if not 1 <= limit <= RECENT_EVENTS:
            raise HiveError(f"limit must be from 1 to {RECENT_EVENTS} (the events the hive "
                            f"keeps), got {limit}")
        return self.hive.hub.recent(limit)

    async def events(self) -> AsyncIterator[Event]:
        sub = self.hive.hub.subscribe()
        try:
            while True:
                yield await sub.get()
        finally:
            sub.close()

    async def aclose(self) -> None:
        return None


__all__ = ["NotAvailableError", "Operator", "OperatorSession", "agent_view"]
