"""The detached supervisor of one local container: ``python -m hivetui.containers.supervise DIR``.

Started by :class:`hivetui.containers.local.LocalBackend` in a new session; it forks once
more so it is nobody's child but init's and survives the core. It runs the sandbox
(:mod:`hivetui.containers.sandbox`), timestamps every line of the container's output into
the agent's log (rotated by size as the plan says), and keeps its bookkeeping in ``DIR``:

- ``supervisor.json`` — ``{"pid", "start"}`` of this process (start in clock ticks)
- ``container.json`` — ``{"pid", "start", "started_at"}`` of the container's pid 1
- ``exit.json`` — ``{"status", "message", "ended_at"}``, written just before it exits

On its original stdout it prints exactly one JSON line, ``{"ready": true, ...}`` or
``{"ready": false, "message": ...}``, then lets go of it. SIGTERM to the supervisor is
passed to the container's pid 1 (a graceful stop).
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hivetui.containers import procinfo
from hivetui.containers.logfile import RotatingLog
from hivetui.containers.mounts import MS_BIND, MS_PRIVATE, MS_REC, mount, mount_overlay_state
from hivetui.containers.sandbox import (
    STAGE,
    Layout,
    PlanBind,
    SandboxPlan,
    command,
    init_config,
    overlay_layout,
)

CLONE_NEWNS = 0x00020000
PR_SET_PDEATHSIG = 1
MAX_LINE = 64 * 1024


def timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def stage_binds(plan: SandboxPlan) -> Layout:
    """Private mount namespace; each bind source re-bound under a tmpfs the uid can reach,
    an overlaid state mounted there as an overlay (this process is real root: its layers
    go by descriptor, opened in this namespace, so the overlay names no host path)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) for staging")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    if not os.path.isdir(STAGE):  # never created: it would be on the host's filesystem
        raise OSError(f"{STAGE} is missing on this host: a root core stages container binds "
                      "on a tmpfs mounted over it")
    mount("tmpfs", STAGE, "tmpfs", 0, "mode=0755")
    binds = []
    for i, bind in enumerate(plan.binds):
        point = f"{STAGE}/{i}"
        if os.path.isdir(bind.source):
            os.mkdir(point, 0o755)
        else:
            os.close(os.open(point, os.O_CREAT | os.O_WRONLY, 0o644))
        if i == 0 and plan.state_overlay:
            _overlay_by_descriptors(bind.source, plan, point)
        else:
            mount(bind.source, point, None, MS_BIND | MS_REC)
        binds.append(PlanBind(point, bind.target, bind.writable))
    return Layout(binds)


def _overlay_by_descriptors(state: str, plan: SandboxPlan, point: str) -> None:
    work, lower = plan.overlay_dirs()
    flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW
    fds = [os.open(path, flags) for path in (state, work, lower)]
    try:
        note = mount_overlay_state(point, *(f"/proc/self/fd/{fd}" for fd in fds))
    finally:
        for fd in fds:
            os.close(fd)
    if note:
        print(f"hive-supervise: {note}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, rundir: Path, plan: SandboxPlan) -> None:
        self.dir = rundir
        self.plan = plan
        self.log = RotatingLog(Path(plan.log_file), plan.log_max_bytes, plan.log_keep)
        self.container_pid = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.announced = False
        self.status: int | None = None
        self.message = ""
        self.pending_term = False

    def note(self, text: str) -> None:
        self.log.write(f"{timestamp()} [hive] {text}\n".encode())

    def announce(self, data: dict[str, Any]) -> None:
        if self.announced:
            return
        self.announced = True
        try:
            os.write(1, (json.dumps(data) + "\n").encode())
        except OSError:
            pass  # the backend gave up waiting; the files say the same
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)

    def on_term(self, signum: int, _frame: object) -> None:
        target = self.container_pid or (self.proc.pid if self.proc else 0)
        if target:
            try:
                os.kill(target, signum)
            except ProcessLookupError:
                pass
        else:
            self.pending_term = True

    def on_status(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        kind = event.get("event")
        if kind == "ready":
            assert self.proc is not None
            pid = self.proc.pid if self.plan.tool == "none" \
                else procinfo.find_namespace_init(self.proc.pid)
            ticks = procinfo.start_ticks(pid) if pid else None
            if pid is None or ticks is None:
                self.message = "container started but its pid 1 was not found"
                return
            self.container_pid = pid
            info = {"pid": pid, "start": ticks, "started_at": time.time()}
            write_json(self.dir / "container.json", info)
            self.note(f"container h-{self.plan.name} started ({self.plan.tool}, pid {pid})")
            self.announce({"ready": True, **info})
            if self.pending_term:
                os.kill(pid, signal.SIGTERM)
        elif kind == "error":
            self.message = str(event.get("message", "container setup failed"))
        elif kind == "exit":
            self.status = int(event["status"])

    def run(self) -> int:
        write_json(self.dir / "supervisor.json", {"pid": os.getpid(),
                                                  "start": procinfo.start_ticks(os.getpid())})
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        try:
            if self.plan.stage:
                layout = stage_binds(self.plan)
            elif self.plan.state_overlay:
                layout = overlay_layout(self.plan)
            else:
                layout = Layout(list(self.plan.binds))
            status_r, status_w = os.pipe()
            config_fd = os.memfd_create("hive-init-config", 0)
            os.write(config_fd, json.dumps(init_config(self.plan, status_w, layout)).encode())
            os.lseek(config_fd, 0, os.SEEK_SET)
            argv = command(self.plan, config_fd, layout)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "PYTHONPATH": self.plan.pythonpath, "LANG": "C.UTF-8"}
            cwd = self.plan.cwd if self.plan.tool == "none" else "/"
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, pass_fds=(status_w, config_fd),
                                         env=env, cwd=cwd, preexec_fn=_die_with_parent)
        except OSError as exc:
            self.message = f"cannot start the container: {exc}"
            return self.finish()
        os.close(status_w)
        os.close(config_fd)
        self.pump(status_r)
        self.proc.wait()
        return self.finish()

    def pump(self, status_r: int) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(out, selectors.EVENT_READ)
        sel.register(status_r, selectors.EVENT_READ)
        buffers: dict[int, bytes] = {out: b"", status_r: b""}
        while sel.get_map():
            for key, _ in sel.select():
                fd = int(key.fd)
                chunk = os.read(fd, 65536)
                if not chunk:
                    sel.unregister(fd)
                    if buffers[fd]:
                        self.line(fd, out, buffers[fd])
                    continue
                data = buffers[fd] + chunk
                *lines, rest = data.split(b"\n")
                for line in lines:
                    self.line(fd, out, line)
                while len(rest) > MAX_LINE:
                    self.line(fd, out, rest[:MAX_LINE])
                    rest = rest[MAX_LINE:]
                buffers[fd] = rest
        sel.close()

    def line(self, fd: int, out: int, line: bytes) -> None:
        if fd == out:
            self.log.write(timestamp().encode() + b" " + line + b"\n")
        else:
            self.on_status(line)

    def finish(self) -> int:
        status = self.status
        if status is None and self.proc is not None and self.proc.returncode is not None:
            # pid 1 did not report: it was SIGKILLed (or crashed). bwrap passes its status
            # on as 128+signal; unshare 2.38 says 1 whatever the signal: unknown then.
            rc = self.proc.returncode
            if rc < 0:
                status = rc
            elif rc > 128 and self.plan.tool == "bwrap":
                status = -(rc - 128)
            elif self.announced:
                self.message = self.message or "pid 1 ended without reporting a status"
        if not self.announced:
            message = self.message or f"the container exited (status {status}) before it ran"
            self.announce({"ready": False, "message": message})
        write_json(self.dir / "exit.json", {"status": status, "message": self.message,
                                            "ended_at": time.time()})
        self.note(f"container h-{self.plan.name} exited with status {status}"
                  + (f": {self.message}" if self.message else ""))
        self.log.close()
        return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m hivetui.containers.supervise DIR", file=sys.stderr)
        return 2
    rundir = Path(argv[1])
    plan = SandboxPlan.from_json((rundir / "plan.json").read_text(encoding="utf-8"))
    if os.fork() > 0:
        os._exit(0)  # the backend reaps this one; the supervisor belongs to init now
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return Supervisor(rundir, plan).run()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
