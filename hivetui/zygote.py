"""The session fork server (zygote): `hivetui attach` pre-imported, forked per SSH session.

Started once by the SSH server (``python -m hivetui.zygote``, its control socket on
fd 3: see :mod:`hivetui.ssh.zygote_client`), it imports the operator app and everything
it shows, then waits. For each session the server sends the CLI arguments, the
session's environment and the session PTY's slave end; the zygote forks, and the child
makes that PTY its controlling terminal and stdio, takes that environment and runs the
CLI: the same `hivetui attach` a fresh process would run, without paying the
interpreter's start and the imports (most of a session's start-up, and all of it paid
ten times over when ten sessions start at once).

One process per session, as with a fresh process: each child is forked from the
zygote, which never runs a session itself, so nothing of one session reaches another.
The zygote is single-threaded and runs no event loop (a fork is then safe); it reaps its
children and reports their exit status to the server.

Before it says it is ready, the zygote draws the operator app's first frame once,
headless, over an empty hive (:mod:`hivetui.tui.warmup`): the parsed stylesheets and the
style caches it fills are then every session's from the start.

Wire (SOCK_SEQPACKET, one JSON object per message):

- zygote → server, once: ``{"ready": PID, "warmed": N}`` (N parsed stylesheet sources),
  or ``{"ready": PID, "warm_error": "..."}`` when the warm-up failed (sessions start
  cold, nothing else changes)

- server → zygote: ``{"id": N, "args": [...], "env": {...}}`` with the slave fd attached
- zygote → server: ``{"id": N, "pid": P}`` or ``{"id": N, "error": "..."}``;
  later ``{"exited": P, "code": C}`` (C negative: killed by signal -C)
"""

from __future__ import annotations

import array
import fcntl
import gc
import json
import os
import select
import signal
import socket
import sys
import termios
import traceback
from typing import Any

from hivetui.ssh.zygote_client import CONTROL_FD, MAX_MESSAGE

#: what a session runs, imported once here (the agent screen's emulator and charts too:
#: here they cost nothing per session)
PRELOAD = ("hivetui.cli", "hivetui.ctl", "hivetui.tui.run", "hivetui.tui.app",
           "hivetui.tui.screens.agent_detail", "hivetui.tui.screens.approvals",
           "hivetui.tui.screens.questions", "hivetui.tui.screens.kept",
           "hivetui.core.bus",
           # what Textual imports only once an app runs
           "textual.drivers.linux_driver", "textual.drivers._writer_thread",
           "textual._xterm_parser", "textual._keyboard_protocol", "textual.layouts.factory",
           "textual.layouts.horizontal", "textual.layouts.stream", "textual.scrollbar")
_RESET = (signal.SIGCHLD, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT, signal.SIGTSTP,
          signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH)


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(json.dumps(message).encode())


def receive(sock: socket.socket) -> tuple[bytes, list[int]] | None:
    """One request (raw) and its fds; None when the server closed its end."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(4 * 4))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    return data, list(fds)


def parse_request(data: bytes) -> tuple[object, list[str], dict[str, str]]:
    """(id, args, env) of a request; ValueError (a short reason) for anything else."""
    try:
        request = json.loads(data)
    except ValueError:
        raise ValueError("a session request must be one JSON object") from None
    if not isinstance(request, dict):
        raise ValueError("a session request must be one JSON object")
    args, env = request.get("args"), request.get("env")
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)
            and isinstance(env, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
        raise ValueError("a session request needs args (strings) and env (string map)")
    return request.get("id"), args, env


def run_session(args: list[str], env: dict[str, str], slave: int) -> int:
    """In the forked child: the PTY as controlling terminal and stdio, then the CLI."""
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the terminal and stdio only
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [sys.executable, "-m", "hivetui", *args]
    from hivetui.cli import main

    return main(args)


def fork_session(args: list[str], env: dict[str, str], fds: list[int],
                 sock: socket.socket, wakeup: tuple[int, int]) -> int:
    """Fork the child of one session; the parent returns its pid."""
    if len(fds) != 1:
        raise ValueError(f"a session request carries one terminal fd, got {len(fds)}")
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: never returns into the zygote's loop
        sock.close()
        signal.set_wakeup_fd(-1)
        for fd in wakeup:
            os.close(fd)
        for sig in _RESET:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = run_session(args, env, fds[0])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send(sock, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def serve(sock: socket.socket) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd fires
    while True:
        ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
            reap(sock)
        if sock.fileno() not in ready:
            continue
        got = receive(sock)
        if got is None:
            return  # the server is gone; sessions end with their terminals
        data, fds = got
        rid: object = None
        try:
            rid, args, env = parse_request(data)
            pid = fork_session(args, env, fds, sock, (wake_r, wake_w))
        except (ValueError, OSError) as exc:
            send(sock, {"id": rid, "error": str(exc)[:500]})
        else:
            send(sock, {"id": rid, "pid": pid})
        finally:
            for fd in fds:
                os.close(fd)


def main() -> None:
    import importlib

    sock = socket.socket(fileno=CONTROL_FD)
    for name in PRELOAD:
        importlib.import_module(name)
    from rich._unicode_data import load

    load()  # rich's character width table (a module of its own, picked at first use)
    hello: dict[str, Any] = {"ready": os.getpid()}
    try:
        from hivetui.tui.warmup import warm_up

        hello["warmed"] = warm_up()
    except Exception as exc:  # sessions still start, each warming its own caches
        hello["warm_error"] = f"{type(exc).__name__}: {exc}"[:500]
    gc.collect()
    gc.freeze()  # the preloaded heap stays shared (copy-on-write) by every session
    send(sock, hello)
    serve(sock)


if __name__ == "__main__":
    main()
