"""pid 1 of a local container: ``python -m hivetui.containers.init --config-fd=N``.

With the ``unshare`` tool it first builds the root filesystem (:func:`mounts.build_root`);
with bubblewrap, bwrap already did. Then it starts the container's first process
(``argv``) in its own session, forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to
that process group, reaps every orphan, and when the first process ends reports its exit
status on the status fd and exits (the kernel then kills whatever else ran in the pid
namespace). A container with a network of its own (``"net": "private"``) gets its loopback
up and, before the first process starts, listening sockets for the core's forwarded
services, served by a forwarder child (:mod:`hivetui.containers.forward`) that init starts
again should it die. Status-fd protocol, one JSON object per line:
``{"event": "ready"}``, ``{"event": "error", "message": …}``,
``{"event": "exit", "status": N}`` (N ≥ 0 exit code, N < 0 killed by signal -N).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import struct
import sys
import time
from typing import Any

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2)


def _report(fd: int, **event: Any) -> None:
    if fd >= 0:
        try:
            os.write(fd, (json.dumps(event) + "\n").encode())
        except OSError as exc:
            print(f"hive-init: cannot report {event.get('event')}: {exc}", file=sys.stderr)


PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522


def drop_capabilities(now: bool = False) -> None:
    """Leave uid 0 without capabilities (no remounts, no raw access) across exec; with
    ``now``, this process too (the forwarder, which runs on without an exec)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        if libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 \
                and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"cannot drop capability {cap}")
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capget(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[2] = data[5] = 0  # inheritable, both words
    if now:
        for i in range(6):
            data[i] = 0
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """Bring ``lo`` up (a fresh network namespace has it down; bwrap already did it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


class Forwarder:
    """The forwarder child: its sockets are bound once, here; it is started again (at most
    once a second) whenever it ends, on the same sockets."""

    def __init__(self, forwards: list[list[Any]], drop_caps: bool, status_fd: int) -> None:
        from hivetui.containers.forward import listen

        loopback_up()
        self.listeners = [(listen(int(port)), str(path)) for port, path in forwards]
        self.drop_caps = drop_caps
        self.status_fd = status_fd
        self.pid = -1
        self.started = 0.0

    def start(self) -> None:
        wait = self.started + 1.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.started = time.monotonic()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        self.pid = os.fork()
        if self.pid != 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            return
        code = 1
        try:
            if self.status_fd >= 0:
                os.close(self.status_fd)  # the supervisor's end of it is init's alone
            for sig in FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            if self.drop_caps:
                drop_capabilities(now=True)
            from hivetui.containers.forward import run

            run(self.listeners)
        finally:
            os._exit(code)


def _wait_status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run(config: dict[str, Any]) -> int:
    status_fd = int(config.get("status_fd", -1))
    if status_fd >= 0:
        os.set_inheritable(status_fd, False)
    try:
        if config.get("build_root"):
            from hivetui.containers.mounts import BindPlan, build_root

            binds = [BindPlan(str(b["source"]), str(b["target"]), bool(b["writable"]))
                     for b in config["binds"]]
            build_root(str(config["build_root"]), binds, str(config["hostname"]),
                       tuple(config.get("dirs", ())))
        if config.get("state_overlay"):
            from hivetui.containers.mounts import mount_overlay_state, umount_detach

            layers = {k: str(v) for k, v in config["state_overlay"].items()}
            note = mount_overlay_state(layers["target"], layers["upper"], layers["work"],
                                       layers["lower"])
            umount_detach(layers["staged"])  # the hive's state dir: init's alone, and gone
            if note:
                print(f"hive-init: {note}", file=sys.stderr, flush=True)
        os.chdir(str(config.get("cwd", "/")))
        forwarder = Forwarder(config["forwards"], bool(config.get("drop_caps")), status_fd) \
            if config.get("net") == "private" else None
    except OSError as exc:
        _report(status_fd, event="error", message=f"container setup failed: {exc}")
        return 125
    argv = [str(a) for a in config["argv"]]
    env = {str(k): str(v) for k, v in config["env"].items()}
    child = -1
    pending: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if child > 0:
            try:
                os.killpg(child, signum)
            except ProcessLookupError:  # not yet its own group (before setsid)
                try:
                    os.kill(child, signum)
                except ProcessLookupError:
                    pass
        else:
            pending.append(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    # block around fork: a signal must reach neither the child's copy of `forward`
    # (it would be lost) nor the parent before `child` is known
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    if forwarder is not None:
        forwarder.start()
    child = os.fork()
    if child == 0:  # the container's first process
        try:
            os.setsid()
            for sig in FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            if config.get("drop_caps"):
                drop_capabilities()
            os.execvpe(argv[0], argv, env)
        except OSError as exc:
            print(f"hive-init: cannot run {argv[0]}: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    _report(status_fd, event="ready")  # the first process exists: start() may return
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    for signum in pending:
        forward(signum, None)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            code = _wait_status(status)
            break
        if forwarder is not None and pid == forwarder.pid:
            print(f"hive-init: the forwarder ended (status {_wait_status(status)}): "
                  "started again", file=sys.stderr, flush=True)
            forwarder.start()
    _report(status_fd, event="exit", status=code)
    return code if code >= 0 else 128 - code


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].startswith("--config-fd="):
        print("usage: python -m hivetui.containers.init --config-fd=N", file=sys.stderr)
        return 2
    fd = int(sys.argv[1].split("=", 1)[1])
    with os.fdopen(fd, "rb") as fh:
        config = json.loads(fh.read())
    return run(config)


if __name__ == "__main__":
    raise SystemExit(main())
