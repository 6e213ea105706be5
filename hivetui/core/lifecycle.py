"""Agent lifecycle: spawn, start, stop, restart, destroy, rebuild — with transient flags."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from hivetui.core import beneath, forwards
from hivetui.core.egress import EgressProxy
from hivetui.core.errors import ContainerError, HiveError
from hivetui.core.events import AgentStarted, AgentStopped, EventHub, ManagerEvent, Progress
from hivetui.core.paths import StatePaths, ensure_private_dir, write_private_file
from hivetui.core.ports import Bind, ContainerBackend, ContainerSpec
from hivetui.core.registry import Agent, Flag, Registry
from hivetui.core.repos import ConfigRepos
from hivetui.core.runtimes import CLAUDE_BIN_ENV, CLAUDE_RUNTIME, resolve_claude_bin
from hivetui.core.settings import AgentSettings
from hivetui.core.tool_surface import MODEL_PATH

log = logging.getLogger(__name__)

ManagerNotifier = Callable[[ManagerEvent], Awaitable[None]]


def _replace_readable(path: Path, data: str) -> None:
    """Atomically make ``path`` hold ``data`` (0600, never following a link), owned like
    its directory from the first instant: a running container's uid reads it at any time
    (a file briefly owned by a root core would make that read fail)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if stat.S_ISREG(os.fstat(fh.fileno()).st_mode) and fh.read(4096) == data.encode():
                return
    except OSError:
        pass  # missing, a link or unreadable: replaced below
    owner = path.parent.stat()
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
        if os.geteuid() == 0:
            os.fchown(fh.fileno(), owner.st_uid, owner.st_gid)
    os.replace(tmp, path)


class Lifecycle:
    """Drives a backend; every operation holds its flag for its whole duration."""

    def __init__(self, registry: Registry, backend: ContainerBackend, paths: StatePaths,
                 hub: EventHub, notify: ManagerNotifier, egress: EgressProxy) -> None:
        self.registry = registry
        self.egress = egress
        self.backend = backend
        self.paths = paths
        self.hub = hub
        self._notify = notify
        #: per-agent config repos; containers are built from the *applied* commit
        self.repos = ConfigRepos(paths)
        self.bridge_url = ""
        #: set while a bridge is starting: a container is set up only once it listens, so
        #: it never gets an empty bridge address
        self._bridge_known: asyncio.Event | None = None
        #: loop settings handed to the harness in agent.json (turn timeout, notes size)
        self.harness_settings: dict[str, float | int] = {}
        self.harness_argv: tuple[str, ...] = (
            sys.executable, "-m", "hivetui", "harness", "--run-dir", "/run/hive",
            "--state-dir", "/state",
        )
        #: ``[claude] bin``: resolved for each claude agent at spawn, start and rebuild
        self.claude_bin = "claude"
        #: the binds each container was last built with (create/rebuild) by this core
        self._built_binds: dict[str, tuple[Bind, ...]] = {}
        #: each agent's applied settings as last read (a container start reads them again)
        self._settings: dict[str, AgentSettings] = {}
        #: the credential broker as containers reach it ("" until it listens): the one
        #: place the container-side address is decided, handed over in bridge.json
        self.broker_url = ""
        #: agents whose applied settings say ``network = "host"`` (as last read)
        self._host_network: set[str] = set()

    # --- helpers ---------------------------------------------------------------
    async def settings_for(self, agent: Agent) -> AgentSettings:
        """The settings of the agent's *applied* config commit (never the proposed copy)."""
        text = await self.repos.applied_file(agent.name, "settings.toml")
        if text is not None:
            settings = AgentSettings.from_toml(text)
        else:
            settings = AgentSettings(runtime=agent.runtime, model=agent.model)
        self._settings[agent.name] = settings
        return settings

    def known_settings(self, name: str) -> AgentSettings:
        """The agent's applied settings as last read (the defaults when not read yet)."""
        return self._settings.get(name) or AgentSettings()

    async def applied_settings(self, name: str) -> AgentSettings:
        """The agent's applied settings, read from its config repo only when this core has
        not read them yet (every container start and rebuild reads them afresh)."""
        known = self._settings.get(name)
        return known if known is not None else await self.settings_for(self.registry.get(name))

    async def spec_for(self, agent: Agent) -> ContainerSpec:
        if self._bridge_known is not None:
            await self._bridge_known.wait()
        settings = await self.settings_for(agent)
        prompt = await self.repos.applied_file(agent.name, "prompt.md") or ""
        nix_module = await self.repos.applied_file(agent.name, "agent.nix") or ""
        run_dir = ensure_private_dir(self.paths.agent_run(agent.name))
        state_dir = self.paths.agent_state(agent.name)
        state_dir.mkdir(parents=True, exist_ok=True)
        write_private_file(run_dir / "bridge.json", self._bridge_json())
        await self._serve_network(agent.name, settings)
        write_private_file(run_dir / "agent.json", json.dumps({
            "name": agent.name, "role": agent.role, "runtime": agent.runtime,
            "settings": settings.model_dump(mode="json"), "harness": self.harness_settings,
            "prompt": prompt,
        }))
        binds: tuple[Bind, ...] = ()
        if agent.role == "manager":
            binds = self.manager_binds(agent.name)
        env = {"HIVETUI_AGENT": agent.name}
        claude_bin = self.runtime_program(agent.runtime)
        if claude_bin:
            env[CLAUDE_BIN_ENV] = claude_bin
        return ContainerSpec(
            name=agent.name, state_dir=state_dir, run_dir=run_dir,
            log_file=self.paths.agent_log(agent.name), argv=self.harness_argv,
            env=env, settings=settings, extra_binds=binds,
            nix_module=nix_module, claude_bin=claude_bin,
        )

    def runtime_program(self, runtime: str) -> str:
        """The program ``runtime`` runs, resolved on the core ("" for the built-in ones, and
        for a backend whose containers bring their own, ``host_programs = False``: nixos);
        refuses (``ContainerError``, naming where it looked) when it is not there."""
        if runtime != CLAUDE_RUNTIME or not getattr(self.backend, "host_programs", True):
            return ""
        return resolve_claude_bin(self.claude_bin)

    def expect_bridge(self) -> None:
        """A bridge is starting: containers wait for its address (:meth:`spec_for`)."""
        if not self.bridge_url:
            self._bridge_known = asyncio.Event()

    def _bridge_json(self) -> str:
        """The model's endpoint as a private-network container reaches it (``url``: a
        fixed forwarded port, the same for every core) and as a host-network one does
        (``host_url``: this core's TCP address); the credential broker's likewise
        (``broker``, ``broker_host_url``) once it listens."""
        broker = {"broker": forwards.inside_url("broker"),
                  "broker_host_url": self.broker_url} if self.broker_url else {}
        return json.dumps({"url": forwards.inside_url("bridge") + MODEL_PATH,
                           "host_url": self.bridge_url, **broker})

    async def _serve_network(self, name: str, settings: AgentSettings) -> None:
        """The agent's ``net/``: the core's shared sockets linked in, its egress proxy
        listening with its allow list."""
        forwards.net_dir(self.paths, name)
        forwards.link_all(self.paths, [name])
        self.egress.allow(name, settings.network_allow)
        await self.egress.listen(name)
        if settings.host_network:
            self._host_network.add(name)
        else:
            self._host_network.discard(name)

    def network_of(self, name: str) -> str:
        """``host`` for an agent on the host's network (flagged), else ``private``."""
        return "host" if name in self._host_network else "private"

    async def serve_networks(self) -> None:
        """Every registered agent's ``net/`` served (a core starting with containers that
        outlived the previous one)."""
        for agent in self.registry.all():
            if not self.paths.agent_run(agent.name).is_dir():
                continue
            try:  # one agent's unreadable settings must not keep the others' network down
                await self._serve_network(agent.name, await self.settings_for(agent))
            except HiveError as exc:
                log.error("%s: its network is not served (its egress refused) until its "
                          "next start: %s", agent.name, exc)

    def publish_socket(self, service: str) -> None:
        """The core listens anew for the shared ``service`` (:mod:`hivetui.core.forwards`):
        every agent's ``net/`` gets the new socket; running containers reach it at once."""
        for agent in self.registry.all():
            try:
                forwards.link_all(self.paths, [agent.name], service)
            except ContainerError as exc:
                log.error("%s cannot reach the new %s socket: %s", agent.name, service, exc)

    def publish_bridge_url(self, url: str) -> None:
        """The bridge listens at ``url``: rewrite every agent's ``bridge.json`` that says
        otherwise, so running harnesses find it on their next reconnect even when the core
        could not get its previous port back."""
        self.bridge_url = url
        if self._bridge_known is not None:
            self._bridge_known.set()
        self._rewrite_bridge_files()

    def publish_broker_url(self, url: str) -> None:
        """The credential broker is reached from containers at ``url`` (told to agents in
        bridge.json, beside the bridge's address, which the harness re-reads every turn)."""
        self.broker_url = url
        if self.bridge_url:
            self._rewrite_bridge_files()

    def _rewrite_bridge_files(self) -> None:
        for agent in self.registry.all():
            run_dir = self.paths.agent_run(agent.name)
            if run_dir.is_dir():
                _replace_readable(run_dir / "bridge.json", self._bridge_json())

    async def _prepare_start(self, agent: Agent) -> None:
        """A new bearer token (the container reads it at start, the old one is refused);
        refresh bridge.json / agent.json; a (stopped) manager whose view of the other
        agents changed since its container was built (agents spawned or destroyed since,
        or unknown: this core did not build it) is rebuilt first, so every other agent's
        state is in its read-only view from this start on."""
        await self.registry.issue_token(agent.name)
        spec = await self.spec_for(agent)
        if agent.role != "manager" or self._built_binds.get(agent.name) == spec.extra_binds:
            return
        self.hub.publish(Progress(agent=agent.name, operation="start",
                                  step="rebuild the manager's view of the agents"))
        await self.backend.rebuild(spec)
        self._built_binds[agent.name] = spec.extra_binds

    def manager_binds(self, manager: str) -> tuple[Bind, ...]:
        """The manager's view: every agent's proposed config at /agents/<n>/config
        (writable: it edits and commits there) and drafts' first notes at
        /agents/<n>/state (writable: the manager prepares a new agent's notes there).
        Agents' real state lives outside agents/ (``states/<n>``): every other agent
        registered now is bound read-only over its empty /agents/<n>/state mountpoint; an
        agent created later is not reachable at all until the manager's next start or
        restart, which rebuilds its container when this view changed (backends keep the
        binds of their last create/rebuild).
        Tokens, logs and container bookkeeping live outside agents/ too (secrets/, logs/,
        containers/)."""
        binds = [Bind(self.paths.agents, "/agents", writable=True)]
        for other in self.registry.all():
            state = self.paths.agent_state(other.name)
            if other.name != manager and state.is_dir():
                # the manager could have put anything there since (agents/<n> or its
                # state a link or a file): a link would redirect the bind or the core, a
                # file would make the container fail to start
                beneath.ensure_plain_dir(self.paths.agents, f"{other.name}/state")
                binds.append(Bind(state, f"/agents/{other.name}/state", writable=False))
        return tuple(binds)

    @asynccontextmanager
    async def _operation(self, name: str, flag: Flag, operation: str) -> AsyncIterator[None]:
        self.hub.publish(Progress(agent=name, operation=operation, step="begin"))
        try:
            async with self.registry.flagged(name, flag):
                yield
        except Exception as exc:
            self.hub.publish(Progress(agent=name, operation=operation, step="failed",
                                      done=True, error=str(exc)))
            raise
        self.hub.publish(Progress(agent=name, operation=operation, step="done", done=True))

    # --- operations ------------------------------------------------------------
    async def spawn(self, name: str, *, runtime: str, model: str, role: str = "worker",
                    start: bool = True) -> Agent:
        self.runtime_program(runtime)  # refused here, before anything is created
        await self.registry.create(name, role=role, runtime=runtime, model=model)
        await self.build(name)
        if start:
            await self.start(name)
        return self.registry.get(name)

    async def build(self, name: str) -> None:
        """Create the (stopped) container of a registered agent from its applied config."""
        agent = self.registry.get(name)
        async with self._operation(name, Flag.STARTING, "spawn"):
            # an agent spawned without an approval gets the default config repo
            await self.repos.ensure(name, AgentSettings(runtime=agent.runtime,
                                                        model=agent.model), agent.role)
            self.hub.publish(Progress(agent=name, operation="spawn", step="create container"))
            spec = await self.spec_for(agent)
            await self.backend.create(spec)
            self._built_binds[name] = spec.extra_binds

    async def unbuild(self, name: str) -> None:
        """Undo a spawn that did not complete: its container and its record go, quietly
        (it was never started for the manager to hear of)."""
        async with self._operation(name, Flag.DESTROYING, "undo spawn"):
            self._built_binds.pop(name, None)
            try:
                await self.backend.destroy(name)
            finally:  # a container left behind is stopped by the next start's reconcile
                if self.registry.find(name) is not None:
                    await self.registry.remove(name)

    async def start(self, name: str) -> None:
        agent = self.registry.get(name)
        if name in await self.backend.running():
            raise ContainerError(f"{name} is already running")
        async with self._operation(name, Flag.STARTING, "start"):
            await self._prepare_start(agent)
            await self.backend.start(name)
            await self.registry.update(name, state="running")
        await self._notify(AgentStarted(agent=name))

    async def stop(self, name: str) -> None:
        self.registry.get(name)
        async with self._operation(name, Flag.STOPPING, "stop"):
            await self.registry.update(name, state="stopped", status="offline")
            await self.backend.stop(name)
            await self.registry.revoke_token(name)
        await self._notify(AgentStopped(agent=name, reason="stopped by request"))

    async def kill(self, name: str) -> None:
        await self.stop(name)

    async def restart(self, name: str) -> None:
        agent = self.registry.get(name)
        async with self._operation(name, Flag.RESTARTING, "restart"):
            if name in await self.backend.running():
                await self.backend.stop(name)
            await self._prepare_start(agent)
            await self.backend.start(name)
            await self.registry.update(name, state="running")
        await self._notify(AgentStarted(agent=name))

    async def destroy(self, name: str) -> None:
        """Remove the container; the agent's state and config are kept (revivable)."""
        self.registry.get(name)
        async with self._operation(name, Flag.DESTROYING, "destroy"):
            await self.registry.update(name, state="stopped", status="offline")
            await self.backend.destroy(name)
            await self.registry.revoke_token(name)
            await self.registry.remove(name)
            self._settings.pop(name, None)
            self.egress.forget(name)
            self._host_network.discard(name)
        await self._notify(AgentStopped(agent=name, reason="destroyed"))

    async def rebuild(self, name: str) -> None:
        agent = self.registry.get(name)
        async with self._operation(name, Flag.REBUILDING, "rebuild"):
            was_running = agent.state == "running"
            spec = await self.spec_for(agent)
            await self.backend.rebuild(spec)
            self._built_binds[name] = spec.extra_binds
            if was_running and name not in await self.backend.running():
                await self.backend.start(name)
            await self.registry.update(name, state="running" if was_running else agent.state)
