"""The Hive: owns the store, registry, bus, telemetry and the long-lived services."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

from hivetui.core.approvals import Approvals
from hivetui.core.audit import AuditLog
from hivetui.core.backoff import Backoff
from hivetui.core.bus import BusMessage, MessageBus
from hivetui.core.config import HiveConfig
from hivetui.core.egress import EgressProxy
from hivetui.core.errors import HiveError
from hivetui.core.events import EventHub, ManagerEvent, MessageDead, Notification
from hivetui.core.forwards import agent_socket
from hivetui.core.lifecycle import Lifecycle
from hivetui.core.metrics import Metrics
from hivetui.core.names import SYSTEM
from hivetui.core.paths import StatePaths
from hivetui.core.ports import ContainerBackend
from hivetui.core.questions import Questions
from hivetui.core.registry import Registry
from hivetui.core.spend import Spend
from hivetui.core.store import Store, refuse_fresh_over_agents
from hivetui.core.telemetry import Telemetry
from hivetui.core.transcripts import Transcripts

log = logging.getLogger(__name__)

ServiceFactory = Callable[[], Awaitable[None]]
#: what a credential broker counted an agent spending since a time (UTC midnight of today:
#: ``OperatorSession.cost``); None: it has no count. The broker sets ``Hive.broker_spend``.
BrokerSpend = Callable[[str, float], Awaitable[float | None]]

#: how often a harness retries a bridge it lost: a restarted core listens again within
#: about two seconds, and an agent must be back within five (a failed local connect costs
#: nothing, so retrying every second for a long outage is cheap)
RECONNECT_PACE = {"reconnect_min_s": 0.25, "reconnect_max_s": 1.0}
#: a failed service is restarted after this, doubling (with jitter) up to the cap
SERVICE_RESTART_FIRST_S = 0.5
SERVICE_RESTART_CAP_S = 30.0


class Hive:
    """The core. ``async with Hive(state_dir, config, backend) as hive: ...``

    Services added with :meth:`add_service` run in a TaskGroup the hive owns, supervised:
    a service that fails is logged, reported as an operator notification and restarted
    with backoff, so no screen or client going away can stop it.
    """

    def __init__(self, state_dir: Path, config: HiveConfig | None = None,
                 backend: ContainerBackend | None = None) -> None:
        self.config = config or HiveConfig()
        self.paths = StatePaths(state_dir)
        self.hub = EventHub()
        self.store = Store(self.paths.db)
        self.registry = Registry(self.store, self.paths, self.hub)
        self.bus = MessageBus(self.store, self.registry, self.hub, self.config.bus,
                              self.config.harness.max_attempts)
        self.bus.on_dead = self._messages_dead
        self.telemetry = Telemetry(self.store, self.hub, self.config.telemetry)
        self.transcripts = Transcripts(self.store, self.hub, self.config.transcript)
        # set by the credential broker when it runs: its spend figures, beside the CLI's
        self.broker_spend: BrokerSpend | None = None
        self._backend = backend
        #: the containers' only way out (their network.allow); serves once the hive is open
        self.egress = EgressProxy(lambda name: agent_socket(self.paths, name, "proxy"),
                                  self.telemetry.record)
        self.lifecycle: Lifecycle | None = (
            Lifecycle(self.registry, backend, self.paths, self.hub, self.notify_manager,
                      self.egress)
            if backend is not None else None
        )
        self.audit = AuditLog(self.store)
        self.questions = Questions(self.store, self.registry, self.hub, self.audit,
                                   self.notify_manager)
        self.approvals = Approvals(
            self.store, self.registry, self.paths, self.hub, self.audit, self.lifecycle,
            self.notify_manager, self.config.harness.default_runtime,
            self.config.harness.default_model,
        )
        self.spend = Spend(self.store, self.telemetry, self.hub, self.notify_manager,
                           self._budget_of)
        self.metrics = Metrics(self.telemetry, self.registry, self.bus, self._queue_lengths)
        if self.lifecycle is not None:
            self.lifecycle.harness_settings = {
                "turn_timeout_s": self.config.harness.turn_timeout_s,
                "notes_compact_bytes": self.config.harness.notes_compact_bytes,
                "retry_backoff_s": self.config.harness.retry_backoff_s,
                **RECONNECT_PACE,
            }
            self.lifecycle.claude_bin = self.config.claude.bin
        self._tg: asyncio.TaskGroup | None = None
        self._services: dict[str, asyncio.Task[None]] = {}
        self._pending: list[tuple[str, ServiceFactory]] = []

    @property
    def backend(self) -> ContainerBackend | None:
        return self._backend

    async def __aenter__(self) -> Hive:
        self.paths.prepare()
        refuse_fresh_over_agents(self.paths.db, {"agents/": self.paths.agents,
                                                 "states/": self.paths.states,
                                                 "secrets/": self.paths.secrets,
                                                 "repos/": self.paths.root / "repos"})
        await self.store.open()
        try:
            await self.registry.load()
            await self.bus.load()
            await self.bus.tell_untold_dead()
            await self.spend.load()
            self._tg = asyncio.TaskGroup()
            await self._tg.__aenter__()
        except BaseException:
            await self.store.aclose()
            raise
        self.add_service("telemetry", self.telemetry.run)
        self.add_service("metrics", self.metrics.run)
        self.add_service("transcripts", self.transcripts.run)
        self.add_service("egress", self.egress.run)
        for name, factory in self._pending:
            self.add_service(name, factory)
        self._pending.clear()
        log.info("hive open at %s", self.paths.root)
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._tg is None:
            return
        tg, self._tg = self._tg, None
        for task in self._services.values():
            task.cancel()
        await tg.__aexit__(None, None, None)
        self._services.clear()
        try:
            await self.telemetry.flush()
            await self.transcripts.flush()
        finally:
            if self._backend is not None:
                await self._backend.aclose()
            await self.store.aclose()
        log.info("hive closed")

    async def _budget_of(self, agent: str) -> float | None:
        """The agent's ``budget_usd_per_day`` (its applied settings); None: no limit."""
        if self.lifecycle is None or self.registry.find(agent) is None:
            return None
        return (await self.lifecycle.applied_settings(agent)).budget_usd_per_day

    def known_budget(self, agent: str) -> float | None:
        """The agent's ``budget_usd_per_day`` as last read by this core (None: no limit, or
        not read yet: its container has not started under this core)."""
        return self.lifecycle.known_settings(agent).budget_usd_per_day \
            if self.lifecycle is not None else None

    async def _queue_lengths(self) -> dict[str, int]:
        return {"approval_queue": len(await self.approvals.query()),
                "question_queue": len(await self.questions.query())}

    def add_service(self, name: str, factory: ServiceFactory) -> None:
        """Run ``factory()`` for the life of the hive, restarting it if it fails."""
        if self._tg is None:
            self._pending.append((name, factory))
            return
        if name in self._services:
            raise HiveError(f"a service named {name!r} is already running")
        self._services[name] = self._tg.create_task(self._supervise(name, factory),
                                                    name=f"hive:{name}")

    def services(self) -> list[str]:
        return [n for n, t in self._services.items() if not t.done()]

    async def _supervise(self, name: str, factory: ServiceFactory) -> None:
        backoff = Backoff(SERVICE_RESTART_FIRST_S, SERVICE_RESTART_CAP_S)
        while True:
            try:
                await factory()
                log.info("service %s finished", name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff.next()
                log.exception("service %s failed; restarting in %.1fs", name, delay)
                self.hub.publish(Notification(level="error", title=f"service {name} failed",
                                              text=f"{type(exc).__name__}: {exc}"))
                await asyncio.sleep(delay)

    async def _messages_dead(self, messages: list[BusMessage]) -> None:
        """Dead letters: a toast for the operator, an event for the manager, per message.

        The manager's own dead letters are not put back into its inbox: a manager whose
        turns keep failing would bury the news of each one again, without end."""
        manager = self.registry.manager()
        for m in messages:
            self.hub.publish(Notification(
                level="error", title=f"message #{m.id} to {m.recipient} set aside",
                text=f"{m.attempts} turn(s) failed on it; last: {m.last_failure[:300]} "
                     f"(hivetui ctl inbox {m.recipient} --dead)", agent=m.recipient))
            event = MessageDead(agent=m.recipient, message_id=m.id, attempts=m.attempts,
                                last_failure=m.last_failure, sender=m.sender)
            if manager is not None and manager.name == m.recipient:
                self.hub.publish(event)
            else:
                await self.notify_manager(event)

    async def notify_manager(self, event: ManagerEvent) -> None:
        """Publish ``event`` and put it in the manager's inbox as a system message."""
        self.hub.publish(event)
        manager = self.registry.manager()
        if manager is None:
            log.info("no manager to receive %s", event.event)
            return
        body = json.dumps(event.to_dict(), sort_keys=True)
        try:
            await self.bus.send(SYSTEM, manager.name, body)
        except HiveError as exc:
            # the manager's inbox refused (full): the operator must know, loudly
            log.error("could not deliver %s to the manager: %s", event.event, exc)
            self.hub.publish(Notification(level="error", title="manager inbox refused an event",
                                          text=f"{event.event}: {exc}", agent=manager.name))
