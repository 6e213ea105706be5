"""The sandbox command line of a local container (bubblewrap or util-linux unshare).

Both tools give the same container: its own user, pid, mount, ipc and uts namespaces, and
its own network namespace with loopback only (unless the agent's settings say
``network = "host"``), where the core's services appear at fixed ports
(:mod:`hivetui.core.forwards`);
uid 0 inside mapped to one unprivileged uid outside; the host's system directories and the
hive's install read-only and nothing else of the host (:mod:`hivetui.containers.rootfs`);
fresh ``/proc``; minimal ``/dev``; private ``/tmp`` and ``/dev/shm``; ``/run`` a read-only
tmpfs holding ``/run/hive``; ``/state`` writable (an overlay whose one written layer is
the agent's state dir, so the container's mountinfo names no host path of it: see
:func:`overlay_layout` and :func:`hivetui.containers.supervise.stage_binds`; what the
container writes is on the host at once, what the host puts there while it runs may show
only from its next start, which is when the harness reads it); ``/``
read-only. Its pid 1 is :mod:`hivetui.containers.init` (which, with ``unshare``, also builds
that root).

When the core runs as root, the namespaces are made by the unprivileged uid (``setpriv``
drops to it first) so that container root is nobody special outside. That uid cannot
reach the sources of the binds (they live under the core's 0700 state dir), so the
supervisor first bind-mounts them into a private staging tmpfs (:data:`STAGE`) in its own
mount namespace; the sandbox inherits that view. The tmpfs is mounted over a directory every
host has, so nothing is created outside the state dir.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from hivetui.containers.rootfs import system_entries
from hivetui.core.forwards import inside_forwards

#: Where a root supervisor stages bind sources: a tmpfs mounted, in its private mount
#: namespace only, over this existing directory (it needs no POSIX shared memory, and every
#: sandbox gets a /dev/shm of its own); the host's /dev/shm is left as it was.
STAGE = "/dev/shm"
#: where a container's init finds the hive's state dir while it mounts the agent's state
OVERLAY_STAGE = "/run/hive-state"
TOOLS = ("bwrap", "unshare", "none")


@dataclass(frozen=True)
class PlanBind:
    source: str
    target: str
    writable: bool


@dataclass(frozen=True)
class SandboxPlan:
    """What the supervisor needs to start one container (stored as ``plan.json``)."""

    name: str
    hostname: str
    tool: str  # bwrap | unshare | none (unisolated)
    tool_path: str
    setpriv_path: str
    uid: int | None  # drop to uid/gid before making namespaces (core runs as root)
    gid: int | None
    python: str  # interpreter for init (must be executable by the container uid)
    pythonpath: str  # directory holding the hivetui package
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_file: str
    binds: list[PlanBind] = field(default_factory=list)
    log_max_bytes: int = 0  # the agent's log rotates before passing this (0: never)
    log_keep: int = 0  # rotated logs kept (log_file.1 …)
    #: a network namespace of its own (loopback, the forwarded services) or the host's
    private_network: bool = False
    #: ``binds[0]`` (the agent's state) is an overlay whose one written layer is the state
    #: dir (work and empty lower dirs in ``overlay_dir``): a bind would show its source's
    #: host path in the container's mountinfo, an overlay shows the layer names it was
    #: given (descriptors, or the container's own staging paths); see :func:`overlay_layout`
    state_overlay: bool = False
    overlay_dir: str = ""

    @property
    def stage(self) -> bool:
        return self.uid is not None and self.tool != "none"

    def overlay_dirs(self) -> tuple[str, str]:
        """(work, lower) of the overlaid state, created (host side) if missing."""
        work, lower = f"{self.overlay_dir}/work", f"{self.overlay_dir}/lower"
        for path in (self.overlay_dir, work, lower):
            os.makedirs(path, mode=0o755, exist_ok=True)
        return work, lower

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> SandboxPlan:
        data: dict[str, Any] = json.loads(text)
        data["binds"] = [PlanBind(**b) for b in data.get("binds", [])]
        return cls(**data)


@dataclass(frozen=True)
class Layout:
    """The mounts a sandbox is made with, as its supervisor prepared them: binds whose sources
    the container's uid reaches, the overlay its init mounts (``target``, ``upper``,
    ``work``, ``lower``, and ``staged``, detached once mounted) and empty mount points."""

    binds: list[PlanBind]
    overlay: dict[str, str] | None = None
    dirs: list[str] = field(default_factory=list)


def overlay_layout(plan: SandboxPlan) -> Layout:
    """The agent's state as an overlay init mounts (a core not running as root: container
    root is the core's uid, which reaches the hive's state dir). The state dir and the
    overlay's work dir must be on one mount, so their common directory is bound at
    :data:`OVERLAY_STAGE` for init alone: it is detached before the agent's first process."""
    state = plan.binds[0]
    work, lower = plan.overlay_dirs()
    root = os.path.commonpath([state.source, plan.overlay_dir])

    def inside(path: str) -> str:
        return f"{OVERLAY_STAGE}/{os.path.relpath(path, root)}"

    overlay = {"target": state.target, "upper": inside(state.source), "work": inside(work),
               "lower": inside(lower), "staged": OVERLAY_STAGE}
    return Layout([PlanBind(root, OVERLAY_STAGE, True), *plan.binds[1:]], overlay,
                  [state.target])


def _drop_prefix(plan: SandboxPlan) -> list[str]:
    if plan.uid is None:
        return []
    return [plan.setpriv_path, f"--reuid={plan.uid}", f"--regid={plan.gid}",
            "--clear-groups", "--pdeathsig=SIGKILL", "--"]


def _init_argv(plan: SandboxPlan, config_fd: int) -> list[str]:
    # the config (env may hold secrets) travels in a memfd, not on the world-readable cmdline
    return [plan.python, "-s", "-m", "hivetui.containers.init", f"--config-fd={config_fd}"]


def init_config(plan: SandboxPlan, status_fd: int, layout: Layout) -> dict[str, Any]:
    """What :mod:`hivetui.containers.init` reads from its config fd."""
    config: dict[str, Any] = {"status_fd": status_fd, "argv": plan.argv, "env": plan.env,
                              "cwd": plan.cwd, "drop_caps": plan.tool != "none",
                              "net": "private" if plan.private_network else "host",
                              "forwards": inside_forwards(), "state_overlay": layout.overlay}
    if plan.tool == "unshare":
        config |= {"build_root": "/tmp", "hostname": plan.hostname,
                   "binds": [{"source": b.source, "target": b.target, "writable": b.writable}
                             for b in layout.binds],
                   "dirs": layout.dirs}
    return config


def _system_bwrap() -> list[str]:
    args: list[str] = ["--dir", "/etc"]
    for entry in system_entries():
        if entry.kind == "symlink":
            args += ["--symlink", entry.target, entry.path]
        else:
            args += ["--ro-bind", entry.path, entry.path]
    return args


def command(plan: SandboxPlan, config_fd: int, layout: Layout) -> list[str]:
    """The full argv the supervisor runs, making the mounts of ``layout``."""
    if plan.tool == "none":
        return _init_argv(plan, config_fd)
    if plan.tool == "unshare":
        return [
            *_drop_prefix(plan), plan.tool_path, "--user", "--map-root-user", "--pid",
            "--fork", "--kill-child", "--mount", "--propagation", "private", "--ipc", "--uts",
            *(["--net"] if plan.private_network else []), "--", *_init_argv(plan, config_fd)]
    if plan.tool != "bwrap":
        raise ValueError(f"unknown sandbox tool {plan.tool!r}")
    args = [plan.tool_path, "--unshare-user", "--uid", "0", "--gid", "0", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--hostname", plan.hostname,
            "--die-with-parent", "--new-session", "--as-pid-1"]
    if plan.private_network:
        args.append("--unshare-net")
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
             "--tmpfs", "/tmp", "--tmpfs", "/run", *_system_bwrap()]
    for b in layout.binds:
        args += ["--bind" if b.writable else "--ro-bind", b.source, b.target]
    for path in layout.dirs:
        args += ["--dir", path]
    if layout.overlay:
        # init mounts it: the overlay works with its mounter's capabilities (within the
        # container's user namespace only); init leaves none to the container's processes
        args += ["--cap-add", "ALL"]
    args += ["--remount-ro", "/run", "--remount-ro", "/", "--chdir", plan.cwd, "--"]
    return _drop_prefix(plan) + args + _init_argv(plan, config_fd)


def probe_command(tool: str, tool_path: str, setpriv_path: str, uid: int | None,
                  gid: int | None) -> list[str]:
    """A trivial container: does this host let ``uid`` make the namespaces we need?"""
    prefix = [] if uid is None else [setpriv_path, f"--reuid={uid}", f"--regid={gid}",
                                     "--clear-groups", "--"]
    if tool == "bwrap":
        return [*prefix, tool_path, "--unshare-user", "--uid", "0", "--gid", "0",
                "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
                "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"]
    return [*prefix, tool_path, "--user", "--map-root-user", "--pid", "--fork", "--mount",
            "--ipc", "--uts", "--net", "--mount-proc", "--", "true"]
