"""How the ``local`` backend runs one container: the sandbox tool and the :class:`SandboxPlan`.

:class:`SandboxPlanner` probes once for a working sandbox tool (bwrap, else unshare; or
none when unisolated runs are allowed), and turns a :class:`ContainerSpec` into the plan
the supervisor (:mod:`hivetui.containers.supervise`) executes: argv and environment as the
container sees them, the bind mounts, and a python the container uid may run.
"""

from __future__ import annotations

import logging
import os
import shutil
import site
import sys
from pathlib import Path

import hivetui
from hivetui.containers import subproc
from hivetui.containers.install_reach import check_install_reachable
from hivetui.containers.rootfs import install_paths
from hivetui.containers.runtime_dir import world_executable
from hivetui.containers.sandbox import PlanBind, SandboxPlan, probe_command
from hivetui.core.errors import ContainerError
from hivetui.core.forwards import container_env
from hivetui.core.names import container_name
from hivetui.core.ports import ContainerSpec

log = logging.getLogger(__name__)

FALLBACK_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3")


def hivetui_pythonpath() -> str:
    """The directory holding the ``hivetui`` package (PYTHONPATH of supervisor and container)."""
    return str(Path(hivetui.__file__).resolve().parent.parent)


def supervisor_env() -> dict[str, str]:
    """The environment of ``python -m hivetui.containers.supervise``."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ")}
    env["PYTHONPATH"] = hivetui_pythonpath()
    return env


class SandboxPlanner:
    """Tool choice (probed once, cached) and plans for one :class:`LocalBackend`.

    ``paths`` maps bwrap, unshare, setpriv and nsenter to their executables; ``uid``/``gid``
    are what container root maps to outside (None: not running as root).
    """

    def __init__(self, *, tool: str, paths: dict[str, str], uid: int | None,
                 gid: int | None, python: str | None, allow_unisolated: bool) -> None:
        self.tool = tool
        self.paths = paths
        self.uid = uid
        self.gid = gid
        self.python = python
        self.allow_unisolated = allow_unisolated
        self.chosen: str | None = None  # bwrap | unshare | none, after the probe
        self._warned_python = False

    async def probe(self) -> str:
        """Pick bwrap or unshare and check user namespaces work; cached."""
        if self.chosen is not None:
            return self.chosen
        candidates = ["bwrap", "unshare"] if self.tool == "auto" else [self.tool]
        if self.tool == "auto" and shutil.which(self.paths["bwrap"]) is None:
            candidates = ["unshare"]
        problems = []
        for tool in candidates:
            argv = probe_command(tool, self.paths[tool], self.paths["setpriv"], self.uid,
                                 self.gid)
            try:
                done = await subproc.run(argv)  # cancelled: killed and reaped, then re-raised
            except OSError as exc:
                problems.append(f"{tool}: {exc}")
                continue
            if done.returncode == 0:
                self.chosen = tool
                log.info("local backend: containers via %s (container root = uid %s)",
                         tool, self.uid if self.uid is not None else os.getuid())
                return tool
            problems.append(f"{tool}: {done.stderr.decode(errors='replace').strip()[:300]}")
        detail = "; ".join(problems)
        if not self.allow_unisolated:
            raise ContainerError(
                "user namespaces are unavailable, so the local backend cannot isolate "
                f"agents ({detail}); enable unprivileged user namespaces, install bubblewrap, "
                "or run unisolated explicitly (allow_unisolated)")
        log.warning("local backend: RUNNING AGENTS UNISOLATED (no namespaces: %s)", detail)
        self.chosen = "none"
        return "none"

    def init_python(self) -> str:
        """The python that runs the container's init (one the container uid may run)."""
        if self.python:
            return self.python
        if self.uid is None or world_executable(sys.executable):
            return sys.executable
        for candidate in FALLBACK_PYTHONS:
            if os.path.exists(candidate) and world_executable(candidate):
                return candidate
        raise ContainerError(f"no python the container uid {self.uid} may run: "
                             f"{sys.executable} is private; pass python=")

    def reachable_python(self, argv: list[str]) -> tuple[list[str], list[str]]:
        """``argv`` runs this very interpreter but the container uid may not reach it
        (e.g. a venv whose python lives under /root): use :meth:`init_python` instead with
        this environment's site-packages on PYTHONPATH. Returns (argv, extra path)."""
        if self.uid is None or not argv or argv[0] != sys.executable \
                or world_executable(argv[0]):
            return argv, []
        python = self.init_python()
        extra = list(site.getsitepackages())
        check_install_reachable(python, self.uid, [hivetui_pythonpath(), *extra])
        if self._warned_python:
            return [python, *argv[1:]], extra
        self._warned_python = True
        log.warning("local backend: %s is private to root; containers run %s with %s",
                    argv[0], python, extra)
        return [python, *argv[1:]], extra

    def plan(self, spec: ContainerSpec, tool: str) -> SandboxPlan:
        """What the supervisor runs for ``spec`` with ``tool`` (from :meth:`probe`)."""
        binds = [PlanBind(str(spec.state_dir), "/state", True),
                 PlanBind(str(spec.run_dir), "/run/hive", False)]
        binds += [PlanBind(str(b.host), b.container, b.writable) for b in spec.extra_binds]
        isolated = tool != "none"
        where = {"/state": "/state", "/run/hive": "/run/hive"} if isolated else \
            {"/state": str(spec.state_dir), "/run/hive": str(spec.run_dir)}
        argv = [where.get(a, a) for a in spec.argv]
        pythonpath = [hivetui_pythonpath()]
        if isolated:
            argv, extra = self.reachable_python(argv)
            pythonpath += extra
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
               "HOME": where["/state"], "LANG": "C.UTF-8", "TERM": "dumb",
               "HIVETUI_STATE_DIR": where["/state"], "HIVETUI_RUN_DIR": where["/run/hive"],
               "PYTHONPATH": os.pathsep.join(pythonpath),
               "IS_SANDBOX": "1" if isolated else "0"}
        # unisolated runs (no namespaces at all) share the host's network like host ones
        private_network = isolated and not spec.settings.host_network
        env.update(container_env(private_network))
        env.update(spec.env)
        if isolated:
            # the hive's install and claude, read-only, at the same paths: nothing else
            claude = (spec.claude_bin,) if spec.claude_bin else ()
            binds += [PlanBind(path, path, False) for path in install_paths(claude)]
        return SandboxPlan(
            name=spec.name, hostname=container_name(spec.name), tool=tool,
            tool_path=self.paths.get(tool, ""), setpriv_path=self.paths["setpriv"],
            uid=self.uid if isolated else None, gid=self.gid if isolated else None,
            python=self.init_python() if isolated else sys.executable,
            pythonpath=hivetui_pythonpath(), argv=argv, env=env, cwd=where["/state"],
            log_file=str(spec.log_file), binds=binds, private_network=private_network,
            state_overlay=isolated)
