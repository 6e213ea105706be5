"""The sandbox command line of a local container (bubblewrap or util-linux unshare).

Both tools give the same container: its own user, pid, mount, ipc and uts namespaces, and
its own network namespace with loopback only (unless the agent's settings say
``network = "host"``), where the core's services appear at fixed ports
(:mod:`hivetui.core.forwards`);
uid 0 inside mapped to one unprivileged uid outside; the host's system directories and the
hive's install read-only and nothing else of the host (:mod:`hivetui.containers.rootfs`);
fresh ``/proc``; minimal ``/dev``; private ``/tmp`` and ``/dev/shm``; ``/run`` a read-only
tmpfs holding ``/run/hive``; ``/state`` writable; ``/`` read-only. Its pid 1 is
:mod:`hivetui.containers.init` (which, with ``unshare``, also builds that root).

When the core runs as root, the namespaces are made by the unprivileged uid (``setpriv``
drops to it first) so that container root is nobody special outside. That uid cannot
reach the sources of the binds (they live under the core's 0700 state dir), so the
supervisor first bind-mounts them into a private staging tmpfs (:data:`STAGE`) in its own
mount namespace; the sandbox inherits that view. The tmpfs is mounted over a directory every
host has, so nothing is created outside the state dir.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from hivetui.containers.rootfs import system_entries
from hivetui.core.forwards import inside_forwards

#: Where a root supervisor stages bind sources: a tmpfs mounted, in its private mount
#: namespace only, over this existing directory (it needs no POSIX shared memory, and every
#: sandbox gets a /dev/shm of its own); the host's /dev/shm is left as it was.
STAGE = "/dev/shm"
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

    @property
    def stage(self) -> bool:
        return self.uid is not None and self.tool != "none"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> SandboxPlan:
        data: dict[str, Any] = json.loads(text)
        data["binds"] = [PlanBind(**b) for b in data.get("binds", [])]
        return cls(**data)


def _drop_prefix(plan: SandboxPlan) -> list[str]:
    if plan.uid is None:
        return []
    return [plan.setpriv_path, f"--reuid={plan.uid}", f"--regid={plan.gid}",
            "--clear-groups", "--pdeathsig=SIGKILL", "--"]


def _init_argv(plan: SandboxPlan, config_fd: int) -> list[str]:
    # the config (env may hold secrets) travels in a memfd, not on the world-readable cmdline
    return [plan.python, "-s", "-m", "hivetui.containers.init", f"--config-fd={config_fd}"]


def init_config(plan: SandboxPlan, status_fd: int, sources: list[str]) -> dict[str, Any]:
    """What :mod:`hivetui.containers.init` reads from its config fd."""
    config: dict[str, Any] = {"status_fd": status_fd, "argv": plan.argv, "env": plan.env,
                              "cwd": plan.cwd, "drop_caps": plan.tool != "none",
                              "net": "private" if plan.private_network else "host",
                              "forwards": inside_forwards()}
    if plan.tool == "unshare":
        config |= {"build_root": "/tmp", "hostname": plan.hostname,
                   "binds": [{"source": src, "target": b.target, "writable": b.writable}
                             for src, b in zip(sources, plan.binds, strict=True)]}
    return config


def _system_bwrap() -> list[str]:
    args: list[str] = ["--dir", "/etc"]
    for entry in system_entries():
        if entry.kind == "symlink":
            args += ["--symlink", entry.target, entry.path]
        else:
            args += ["--ro-bind", entry.path, entry.path]
    return args


def command(plan: SandboxPlan, config_fd: int, sources: list[str]) -> list[str]:
    """The full argv the supervisor runs; ``sources[i]`` replaces ``plan.binds[i].source``."""
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
    for src, b in zip(sources, plan.binds, strict=True):
        args += ["--bind" if b.writable else "--ro-bind", src, b.target]
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
