"""crash_watch: tells the manager when a container stops without anyone asking it to.

A reconciling pass first: the registry is compared with what the backend really runs, and
every disagreement is corrected, written to the audit log and reported (see
:meth:`CrashWatch.reconcile`); an agent recorded ``running`` whose container ended while
the core was down is a ``container_crash`` with ``found_at_start``. Then, on every
running→stopped transition of an agent whose record says ``running`` and that holds no
transient flag, a ``container_crash`` event goes to the manager's inbox plus an operator
notification.
Transitions are learnt two ways: by polling ``backend.running()`` every ``interval_s``
(the seed's way, and the only one for the nixos backend) and, where the backend offers
it, at once from ``backend.exits()``. A container that systemd brought back by itself
between two polls is still reported: its backend exit stream or its start time says so
(``restarts`` — see :meth:`CrashWatch.observe_restart`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque

from hivetui.core.config import CrashWatchConfig
from hivetui.core.events import AgentStarted, ContainerCrash, CrashLoop, EventHub, Notification
from hivetui.core.hive import Hive
from hivetui.core.ports import ContainerBackend, ContainerExit
from hivetui.core.words import counted

log = logging.getLogger(__name__)


class CrashWatch:
    def __init__(self, hive: Hive, backend: ContainerBackend,
                 config: CrashWatchConfig | None = None) -> None:
        self.hive = hive
        self.backend = backend
        self.config = config or hive.config.crash_watch
        self._hub: EventHub = hive.hub
        self._running: set[str] | None = None  # None until the seeding pass
        self._crashes: dict[str, deque[float]] = defaultdict(deque)
        self._reported_exit: dict[str, float] = {}
        self._restarts: dict[str, int] | None = None
        self._lock = asyncio.Lock()
        self._adopted: dict[str, float] = {}  # re-adopted at start -> when
        self.seeded = asyncio.Event()

    async def run(self) -> None:
        """Service: seed, then poll; consume the backend's exit stream alongside."""
        await self.seed()
        exits = self.backend.exits()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._poll_loop())
            tg.create_task(self._verify_later())
            if exits is not None:
                tg.create_task(self._exit_loop(exits))

    async def seed(self) -> None:
        self._restarts = await self._restart_counts()
        await self.reconcile(set(await self.backend.running()))
        self._running = set(await self.backend.running())
        log.info("crash_watch seeded: %s running", len(self._running))
        self.seeded.set()

    async def reconcile(self, running: set[str]) -> None:
        """Make the registry and the backend agree, reporting each correction.

        The registry records intent, except ``created`` (a start that reached the backend
        but not the record): recorded ``running`` but not running -> crashed while the core
        was down; ``stopped`` but running -> stopped; ``crashed`` or ``created`` but
        running -> running; running without any agent -> stopped. A container recorded
        ``running`` that runs is re-adopted: the backend checked its pid 1 is the process
        it started; :meth:`verify_reconnected` later checks it reached the bridge.
        Agents an operation holds (a flag) are left to it.
        """
        registry = self.hive.registry
        adopted = []
        for agent in registry.all():
            name = agent.name
            if registry.flags(name):
                continue
            live = name in running
            if agent.state == "running" and not live:
                await self._found_dead(name)
            elif agent.state == "running":
                adopted.append(name)
            elif agent.state == "stopped" and live:
                await self.backend.stop(name)
                await self._corrected(name, "was recorded stopped but ran: stopped it")
            elif agent.state in ("crashed", "created") and live:
                await registry.update(name, state="running", status_detail="")
                await self._corrected(name, f"was recorded {agent.state} but runs: recorded "
                                            "running")
                await self.hive.notify_manager(AgentStarted(agent=name))
        for name in sorted(running - {a.name for a in registry.all()}):
            await self.backend.stop(name)
            await self._corrected(name, "ran without being a registered agent: stopped it")
        self._adopted = {name: time.monotonic() for name in adopted}
        if adopted:
            log.info("crash_watch: re-adopted %s", ", ".join(adopted))

    async def _verify_later(self) -> None:
        await asyncio.sleep(self.config.reconnect_grace_s)
        await self.verify_reconnected()

    async def verify_reconnected(self) -> list[str]:
        """Report each re-adopted container that has not called the bridge since the core
        started (its pid 1 runs, but the agent in it does not reach the hive); the names."""
        registry = self.hive.registry
        silent = []
        for name, since in sorted(self._adopted.items()):
            agent = registry.find(name)
            seen = registry.last_seen(name)
            if agent is None or agent.state != "running" or registry.flags(name) \
                    or (seen is not None and seen >= since):
                continue
            silent.append(name)
            text = (f"h-{name} was re-adopted at start-up but has not called the bridge in "
                    f"{self.config.reconnect_grace_s:g}s")
            log.warning("crash_watch: %s", text)
            await registry.update(name, status_detail=text)
            await self.hive.audit.record("core", "reconcile", name, text)
            self._hub.publish(Notification(level="error", title="agent not reconnected",
                                           text=text, agent=name))
        self._adopted.clear()
        return silent

    async def _corrected(self, name: str, what: str) -> None:
        text = f"at start-up, h-{name} {what}"
        log.warning("crash_watch: %s", text)
        await self.hive.audit.record("core", "reconcile", name, text)
        self._hub.publish(Notification(level="warning", title="registry corrected",
                                       text=text, agent=name))

    async def _found_dead(self, name: str) -> None:
        last_exit = getattr(self.backend, "last_exit_status", None)
        status = await last_exit(name) if last_exit is not None else None
        detail = ("its container ended while the core was down (found when the core "
                  f"started; last exit status {status})")
        await self.hive.audit.record("core", "reconcile", name, detail)
        await self._report_crash(name, status, source="start", detail=detail)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval_s)
            await self.poll()

    async def _exit_loop(self, exits: object) -> None:
        async for ex in exits:  # type: ignore[attr-defined]
            await self.on_exit(ex)

    async def _restart_counts(self) -> dict[str, int] | None:
        """Supervisor restart counters, where the backend has them (nixos: NRestarts)."""
        counts = getattr(self.backend, "restarts", None)
        if counts is None:
            return None
        try:
            return dict(await counts())
        except Exception as exc:  # a failed read must not stop the watcher: say so
            log.warning("crash_watch: could not read restart counters: %s", exc)
            return None

    async def poll(self) -> None:
        """One polling pass over the running set (and restart counters, if any)."""
        # an operation that starts or ends while this pass awaits the backend must still
        # count as expected: remember every agent flagged at either end of the pass
        registry = self.hive.registry
        flagged = set(registry.flags_snapshot())
        epochs = registry.flag_epochs()
        now_running = set(await self.backend.running())
        counts = await self._restart_counts()
        flagged |= set(registry.flags_snapshot())
        flagged |= {n for n, e in registry.flag_epochs().items() if e != epochs.get(n, 0)}
        async with self._lock:
            before = self._running if self._running is not None else now_running
            stopped = before - now_running
            self._running = now_running
            restarted: set[str] = set()
            if counts is not None:
                if self._restarts is not None:
                    restarted = {n for n, c in counts.items()
                                 if c > self._restarts.get(n, c) and n not in stopped}
                self._restarts = counts
        for name in sorted(stopped - flagged):
            await self._maybe_crash(name, None, source="poll")
        for name in sorted(restarted - flagged):
            # systemd brought it back between two polls: it still crashed
            await self.observe_restart(name)

    async def on_exit(self, ex: ContainerExit) -> None:
        """The backend saw a container's main process end (event-driven path)."""
        async with self._lock:
            if self._running is not None:
                self._running.discard(ex.name)
        if ex.requested:
            log.debug("crash_watch: %s ended on request", ex.name)
            return
        await self._maybe_crash(ex.name, ex.status, source="exit")

    async def observe_restart(self, name: str, status: int | None = None) -> None:
        """A container that crashed and was restarted by its supervisor (systemd)."""
        await self._maybe_crash(name, status, source="restarted", back_up=True)

    def _expected(self, name: str) -> bool:
        agent = self.hive.registry.find(name)
        if agent is None:
            return True  # destroyed or unknown: nobody to restart
        if self.hive.registry.flags(name):
            return True  # Stopping / Restarting / Destroying / Rebuilding / Starting
        return agent.state != "running"

    async def _maybe_crash(self, name: str, status: int | None, source: str,
                           back_up: bool = False) -> None:
        if self._expected(name):
            log.debug("crash_watch: %s stopped as expected (%s)", name, source)
            return
        now = time.monotonic()
        # the exit stream and the poll can both see one crash: report it once
        last = self._reported_exit.get(name)
        if last is not None and now - last < max(self.config.interval_s * 2, 1.0) \
                and source == "poll":
            return
        self._reported_exit[name] = now
        await self._report_crash(name, status, source, back_up=back_up)

    async def _report_crash(self, name: str, status: int | None, source: str, *,
                            back_up: bool = False, detail: str = "") -> None:
        try:
            lines = tuple(await self.backend.logs(name, self.config.log_lines))
        except Exception as exc:  # logs are a courtesy: the crash must still be reported
            log.warning("crash_watch: no logs for %s: %s", name, exc)
            lines = (f"(logs unavailable: {exc})",)
        if back_up:  # the supervisor already restarted it: it runs, but it did crash
            await self.hive.registry.update(
                name, status_detail=f"crashed and restarted by its supervisor ({source})")
        else:
            await self.hive.registry.update(name, state="crashed", status="offline",
                                            status_detail=detail or f"exit status {status}")
        log.warning("crash_watch: %s crashed (status %s, via %s)", name, status, source)
        await self.hive.notify_manager(ContainerCrash(
            agent=name, exit_status=status, last_log_lines=lines,
            found_at_start=source == "start", detail=detail))
        self._hub.publish(Notification(level="error", title="container crashed",
                                       text=detail or f"{name} exited with status {status}",
                                       agent=name))
        await self._count(name)

    async def _count(self, name: str) -> None:
        window = self.config.loop_window_s
        now = time.monotonic()
        crashes = self._crashes[name]
        crashes.append(now)
        while crashes and crashes[0] < now - window:
            crashes.popleft()
        agent = self.hive.registry.find(name)
        if len(crashes) >= self.config.loop_count and agent is not None \
                and not agent.crash_looping:
            await self.hive.registry.update(name, crash_looping=True)
            await self.hive.notify_manager(CrashLoop(agent=name, count=len(crashes),
                                                     window_s=window))
            self._hub.publish(Notification(
                level="error", title="crash loop",
                text=f"{name} crashed {counted(len(crashes), 'time')} in {window:.0f}s",
                agent=name))
