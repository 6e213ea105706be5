"""The ``local`` backend (the default): containers made of Linux namespaces.

Each container is a process tree in its own user, pid, mount, ipc and uts namespaces
(:mod:`hivetui.containers.sandbox`), run by a detached supervisor
(:mod:`hivetui.containers.supervise`) so that it outlives the core; a new backend
instance re-adopts whatever still runs (pid + start time checked). The sandbox tool and
each container's plan come from :mod:`hivetui.containers.local_plan`.

Files: ``<root>/<name>/supervisor/`` holds ``plan.json`` (the spec, as the supervisor reads it),
``supervisor.json``, ``container.json``, ``exit.json`` and ``supervisor.log`` (the
supervisor's own stderr). The agent's output goes to ``spec.log_file``, one
``<UTC ISO-8601 with ms>Z <line>`` per line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from hivetui.containers import procinfo, subproc
from hivetui.containers.local_plan import SandboxPlanner, hivetui_pythonpath, supervisor_env
from hivetui.containers.logfile import follow_lines, rotate_if_over, tail_lines
from hivetui.containers.runtime_dir import ContainerDir, chown_tree, world_readable
from hivetui.core.config import LogsConfig
from hivetui.core.errors import ContainerError
from hivetui.core.forwards import container_env
from hivetui.core.names import validate_agent_name
from hivetui.core.ports import ContainerExit, ContainerSpec

log = logging.getLogger(__name__)

#: ``<root>/<name>/<RUNTIME_SUBDIR>/`` holds one container's bookkeeping; ``root`` may be the
#: core's agents dir (``<name>/`` also holds the agent's state), so only this is ever removed.
RUNTIME_SUBDIR = "supervisor"
#: Container root maps to this uid/gid outside when the core runs as root.
DEFAULT_CONTAINER_ID = 1_888_000_000


def _remove_runtime(path: Path) -> None:
    """rmtree, after opening up what an overlay leaves in its work dir (``work/work`` is
    mode 0: a core that is not root could not list it)."""
    work = path / "state-overlay" / "work"
    if work.is_dir() and not work.is_symlink():
        for sub in work.iterdir():
            if sub.is_dir() and not sub.is_symlink():
                os.chmod(sub, 0o700)
    shutil.rmtree(path)


class LocalBackend:
    """Containers as namespaced process trees; see the module docstring.

    ``exits()`` and ``running()`` are what a crash watcher needs — see their docstrings.
    """

    name = "local"

    def __init__(self, root: Path, *, tool: str = "auto", bwrap: str = "bwrap",
                 unshare: str = "unshare", setpriv: str = "setpriv",
                 nsenter: str = "nsenter", uid: int | None = None, gid: int | None = None,
                 python: str | None = None, allow_unisolated: bool = False,
                 stop_timeout: float = 10.0, start_timeout: float = 30.0,
                 log_caps: LogsConfig | None = None) -> None:
        if tool not in ("auto", "bwrap", "unshare"):
            raise ContainerError(f"local backend tool must be auto, bwrap or unshare, not {tool!r}")
        self.root = root
        self.tool = tool
        self.paths = {"bwrap": bwrap, "unshare": unshare, "setpriv": setpriv, "nsenter": nsenter}
        self.as_root = os.geteuid() == 0
        self.uid = (DEFAULT_CONTAINER_ID if uid is None else uid) if self.as_root else None
        self.gid = (DEFAULT_CONTAINER_ID if gid is None else gid) if self.as_root else None
        self.python = python
        self.allow_unisolated = allow_unisolated
        self.stop_timeout = stop_timeout
        self.start_timeout = start_timeout
        self.log_caps = log_caps or LogsConfig()
        self._planner = SandboxPlanner(tool=tool, paths=self.paths, uid=self.uid,
                                       gid=self.gid, python=python,
                                       allow_unisolated=allow_unisolated)
        self._live: dict[str, ContainerDir] = {}  # running containers we watch
        self._ended: dict[str, asyncio.Event] = {}
        self._requested: set[str] = set()
        self._killed: set[str] = set()  # stop escalated to SIGKILL
        self._exits: asyncio.Queue[ContainerExit] | None = None
        self._opened = False
        self._closed = False

    # --- lifecycle of the backend ---------------------------------------------------
    async def __aenter__(self) -> LocalBackend:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Re-adopt running containers (called by every method; idempotent)."""
        if self._opened:
            return
        self._opened = True
        self._exits = asyncio.Queue()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for sub in sorted(self.root.iterdir()):
            cdir = ContainerDir(sub / RUNTIME_SUBDIR)
            if cdir.path.is_dir() and cdir.running():
                self._watch(sub.name, cdir)
                log.info("local backend: re-adopted container h-%s", sub.name)

    async def aclose(self) -> None:
        """Stop watching; the containers keep running (a later instance re-adopts them)."""
        self._closed = True
        loop = asyncio.get_running_loop()
        for cdir in self._live.values():
            if cdir.pidfd is not None:
                loop.remove_reader(cdir.pidfd)
                os.close(cdir.pidfd)
                cdir.pidfd = None
        self._live.clear()

    # --- the protocol ---------------------------------------------------------------
    async def create(self, spec: ContainerSpec) -> None:
        """Record the spec (no process starts). Replaces the spec of a stopped container."""
        await self.open()
        validate_agent_name(spec.name)
        if spec.name in await self.running():
            raise ContainerError(f"container h-{spec.name} runs: stop it or use rebuild")
        tool = await self._planner.probe()
        package = Path(hivetui_pythonpath()) / "hivetui" / "__init__.py"
        if self.uid is not None and tool != "none" and not world_readable(str(package)):
            raise ContainerError(f"the container uid {self.uid} cannot read {package}: install "
                                 "hivetui where every user may read it (not under /root)")
        cdir = self._dir(spec.name)
        cdir.path.mkdir(parents=True, exist_ok=True)
        os.chmod(cdir.path, 0o700)
        spec.state_dir.mkdir(parents=True, exist_ok=True)
        if self.uid is not None:
            await asyncio.to_thread(chown_tree, spec.state_dir, self.uid, self.gid)
        plan = self._planner.plan(spec, tool)
        if plan.state_overlay:
            plan = replace(plan, overlay_dir=str(cdir.path / "state-overlay"))
        cdir.write_plan(plan)

    async def start(self, name: str) -> None:
        """Start the container; returns once its pid 1 runs. No-op if it already runs."""
        await self.open()
        if name in await self.running():
            return
        cdir = self._dir(name)
        plan = cdir.read_plan()
        if plan is None:
            raise ContainerError(f"no container h-{name}: create it first")
        if self.uid is not None:
            # /state and /run/hive (the core may add files) and any other writable bind
            # (the manager's /agents): the container uid must own what it may write
            for i, bind in enumerate(plan.binds):
                if i < 2 or bind.writable:
                    await asyncio.to_thread(chown_tree, Path(bind.source), self.uid, self.gid)
        cdir.clear_runtime()
        # the caps in force now, whatever they were when the plan was made
        caps = self.log_caps
        plan = replace(plan, log_max_bytes=caps.agent_max_bytes, log_keep=caps.keep)
        cdir.write_plan(plan)
        Path(plan.log_file).parent.mkdir(parents=True, exist_ok=True)
        # the supervisor's stderr only carries its own failures: rotated between runs
        rotate_if_over(cdir.path / "supervisor.log", caps.supervisor_max_bytes, caps.keep)
        errlog = os.open(cdir.path / "supervisor.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                         0o600)
        try:
            launcher = await subproc.Child.spawn(
                [sys.executable, "-m", "hivetui.containers.supervise", str(cdir.path)],
                stderr=errlog, env=supervisor_env())
        finally:
            os.close(errlog)
        try:
            line = await self._announcement(launcher)
        except BaseException:  # cancelled: the supervisor (the launcher's group) goes too
            await launcher.aclose(kill_group=True)
            cdir.abandon()
            raise
        await launcher.aclose(kill_group=not line)
        ready = cdir.parse_announcement(line)
        if ready is not True:
            cdir.abandon()  # a late start must not leave an unwatched container behind
            raise ContainerError(f"container h-{name} did not start: {ready}")
        self._watch(name, cdir)

    async def _announcement(self, launcher: subproc.Child) -> bytes:
        """The supervisor's one line (b"" if none came within ``start_timeout``)."""
        try:
            async with asyncio.timeout(self.start_timeout):
                line = await launcher.readline()
        except TimeoutError:
            return b""
        try:  # the supervisor lets go of the pipe right after its one line
            async with asyncio.timeout(5.0):
                await launcher.wait()
        except TimeoutError:
            log.warning("local backend: the supervisor in %s kept its stdout open",
                        launcher.argv[-1])
        return line

    async def stop(self, name: str) -> None:
        """SIGTERM to the container's pid 1, SIGKILL after ``stop_timeout``; no-op if stopped.

        Returns after the exit has been queued for ``exits()`` (with ``requested=True``).
        """
        await self.open()
        cdir = self._live.get(name)
        if cdir is None or not cdir.running():
            return
        self._requested.add(name)
        ended = self._ended[name]
        cdir.signal_container(signal.SIGTERM)
        try:
            await asyncio.wait_for(ended.wait(), self.stop_timeout)
            return
        except TimeoutError:
            log.warning("local backend: h-%s ignored SIGTERM for %.1fs: SIGKILL", name,
                        self.stop_timeout)
        self._killed.add(name)
        cdir.signal_container(signal.SIGKILL)
        try:
            await asyncio.wait_for(ended.wait(), 5.0)
        except TimeoutError as exc:
            raise ContainerError(f"container h-{name} did not end after SIGKILL") from exc

    async def restart(self, name: str) -> None:
        await self.stop(name)
        await self.start(name)

    async def destroy(self, name: str) -> None:
        """Stop, then remove the runtime files; the agent's state dir and log stay."""
        await self.stop(name)
        cdir = self._dir(name)
        if cdir.path.exists():
            await asyncio.to_thread(_remove_runtime, cdir.path)

    async def rebuild(self, spec: ContainerSpec) -> None:
        """Stop, re-create with ``spec``, start again if it ran before."""
        await self.open()
        was_running = spec.name in await self.running()
        await self.stop(spec.name)
        await self.create(spec)
        if was_running:
            await self.start(spec.name)

    async def running(self) -> set[str]:
        """Names whose container's pid 1 is alive right now (checked against /proc).

        Includes re-adopted containers. A container counts from the moment ``start``
        returns until its pid 1 has exited; there is no "starting" or "zombie" state.
        """
        await self.open()
        return {name for name, cdir in self._live.items() if cdir.running()}

    def shell_argv(self, name: str) -> list[str]:
        """argv for a login shell as root inside the running container (nsenter)."""
        cdir = self._live.get(name)
        info = cdir.container() if cdir is not None else None
        if cdir is None or info is None or not cdir.running():
            raise ContainerError(f"container h-{name} is not running: start it first")
        shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
        env = ["/usr/bin/env", "-i", f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}",
               "TERM=xterm-256color", "HOME=/state",  # what the embedded emulator speaks
               "LANG=C.UTF-8", f"HIVETUI_AGENT={name}"]
        plan = cdir.read_plan()
        if plan is not None:  # the agent's view of the network (and its proxy)
            env += [f"{k}={v}" for k, v in container_env(plan.private_network).items()]
        if plan is not None and plan.tool == "none":
            return ["/bin/sh", "-c", f'cd "$1" && exec {shell} -l', "sh", plan.cwd]
        # not root: we are the uid that container root maps to, and the user namespace
        # forbids setgroups, so keep our credentials (they read as uid 0 inside)
        keep = [] if self.as_root else ["--preserve-credentials"]
        net = ["--net"] if plan is not None and plan.private_network else []
        return [self.paths["nsenter"], f"--target={info['pid']}", "--user", "--pid",
                "--mount", "--ipc", "--uts", *net, "--root", "--wd", *keep, "--", *env, shell,
                "-l"]

    async def last_exit_status(self, name: str) -> int | None:
        """The exit status the supervisor recorded for the container's last run (None when
        there is none): what a core learns of a container that ended while it was down."""
        info = self._dir(name).exit_info()
        status = info.get("status") if info else None
        return status if isinstance(status, int) else None

    async def logs(self, name: str, lines: int) -> list[str]:
        """The last ``lines`` lines of the container's log (timestamped)."""
        return await asyncio.to_thread(tail_lines, self._log_file(name), lines)

    def follow_logs(self, name: str) -> AsyncIterator[str]:
        """New log lines as they are written (from the end); runs until cancelled."""
        return follow_lines(self._log_file(name))

    def exits(self) -> AsyncIterator[ContainerExit]:
        """One :class:`ContainerExit` per container end, at once (pidfd), exactly once.

        Covers every end seen by this instance: crashes and ``stop``/``restart``/
        ``destroy``/``rebuild`` (those carry ``requested=True`` and are queued before the
        operation returns). Containers that ended while no instance watched are not
        reported. Single consumer: call once.
        """
        return self._iter_exits()

    async def _iter_exits(self) -> AsyncIterator[ContainerExit]:
        await self.open()
        assert self._exits is not None
        while True:
            yield await self._exits.get()

    # --- internals --------------------------------------------------------------------
    def _init_python(self) -> str:
        return self._planner.init_python()

    @staticmethod
    def _pythonpath() -> str:
        return hivetui_pythonpath()

    def _dir(self, name: str) -> ContainerDir:
        return ContainerDir(self.root / validate_agent_name(name) / RUNTIME_SUBDIR)

    def _log_file(self, name: str) -> Path:
        plan = self._dir(name).read_plan()
        if plan is None:
            raise ContainerError(f"no container h-{name}")
        return Path(plan.log_file)

    def _watch(self, name: str, cdir: ContainerDir) -> None:
        """Learn of the supervisor's end at once: a pidfd in the event loop."""
        sup = cdir.supervisor()
        if sup is None:
            return
        loop = asyncio.get_running_loop()
        try:
            cdir.pidfd = os.pidfd_open(sup["pid"])
        except ProcessLookupError:
            cdir.pidfd = None
        self._live[name] = cdir
        self._ended[name] = asyncio.Event()
        if cdir.pidfd is None or not procinfo.is_alive(sup["pid"], sup["start"]):
            self._on_end(name, cdir)
            return
        loop.add_reader(cdir.pidfd, self._on_end, name, cdir)

    def _on_end(self, name: str, cdir: ContainerDir) -> None:
        if cdir.pidfd is not None:
            asyncio.get_running_loop().remove_reader(cdir.pidfd)
            os.close(cdir.pidfd)
            cdir.pidfd = None
        if self._live.get(name) is cdir:
            del self._live[name]
        cdir.kill_orphan()  # supervisor gone without the container ending (SIGKILLed)
        info = cdir.exit_info()
        status = info.get("status") if info else None
        if status is None and name in self._killed:
            status = -signal.SIGKILL
        requested = name in self._requested
        self._requested.discard(name)
        self._killed.discard(name)
        if self._exits is not None and not self._closed:
            self._exits.put_nowait(ContainerExit(name, status, requested=requested))
        if not requested:
            log.warning("local backend: container h-%s ended (status %s)", name, status)
        self._ended[name].set()
