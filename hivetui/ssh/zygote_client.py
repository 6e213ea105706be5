"""The SSH server's side of the session zygote (the process: :mod:`hivetui.zygote`).

    zygote = Zygote(env)            # env: what every session inherits (no secrets)
    await zygote.start()            # spawned, its imports done
    child = await zygote.spawn(args, session_env, cols, rows)   # a PtyChild
    await zygote.aclose()

The zygote is the sessions' parent: it reports their exit status, which resolves each
:class:`~hivetui.ssh.ptychild.PtyChild`'s ``exited``. If it dies, :attr:`alive` turns
false (its sessions go on; their exit status is lost) and the server starts sessions
the ordinary way.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from hivetui.core.errors import SSHError
from hivetui.ssh.ptychild import PtyChild, open_pty

log = logging.getLogger(__name__)

CONTROL_FD = 3  # the zygote's end of its control socket
MAX_MESSAGE = 256 * 1024


class Zygote:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._loop = asyncio.get_running_loop()
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._ready: asyncio.Future[int] = self._loop.create_future()
        self._ended: asyncio.Future[None] = self._loop.create_future()
        self.pid: int | None = None
        self._pidfd = -1
        #: stylesheet sources the zygote parsed before its first fork (0: none, cold)
        self.warmed = 0

    @property
    def alive(self) -> bool:
        return self._sock is not None and self._ready.done() and not self._ready.exception()

    async def start(self, timeout: float = 60.0) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.pid, self._pidfd = _spawn_zygote(self._env, theirs.fileno())
        except OSError as exc:
            ours.close()
            raise SSHError(f"cannot start the session zygote: {exc}") from exc
        finally:
            theirs.close()
        self._loop.add_reader(self._pidfd, self._on_zygote_exit)
        ours.setblocking(False)
        self._sock = ours
        self._loop.add_reader(ours.fileno(), self._on_message)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            await self.aclose()
            raise SSHError(f"the session zygote did not get ready within {timeout:g}s"
                           ) from None
        log.info("ssh: session zygote ready (pid %d, %d stylesheet sources parsed)", self.pid,
                 self.warmed)

    async def spawn(self, args: Sequence[str], env: Mapping[str, str], cols: int, rows: int,
                    px_width: int = 0, px_height: int = 0,
                    modes: Mapping[int, int] | None = None, timeout: float = 10.0
                    ) -> PtyChild:
        """A session child on a new PTY, forked from the zygote, running ``hivetui ARGS``."""
        if not self.alive or self._sock is None:
            raise SSHError("the session zygote is not running")
        master, slave = open_pty(cols, rows, px_width, px_height, modes)
        rid = next(self._ids)
        reply: asyncio.Future[int] = self._loop.create_future()
        self._replies[rid] = reply
        try:
            self._sock.sendmsg(
                [json.dumps({"id": rid, "args": list(args), "env": dict(env)}).encode()],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [slave]))])
            pid = await asyncio.wait_for(reply, timeout)
            pidfd = os.pidfd_open(pid)
        except BaseException as exc:
            self._replies.pop(rid, None)
            os.close(master)
            if isinstance(exc, OSError | TimeoutError):
                raise SSHError(f"the session zygote could not start a session: {exc}"
                               ) from exc
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        log.debug("zygote forked pid %d for %s", pid, args)
        return PtyChild(pid, master, pidfd, status=self._exits[pid])

    def _on_message(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(MAX_MESSAGE)
        except BlockingIOError:
            return
        except OSError as exc:
            log.error("ssh: session zygote connection failed: %s", exc)
            data = b""
        if not data:
            self._lost()
            return
        self._dispatch(json.loads(data))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "ready" in message:
            if "warm_error" in message:
                log.warning("ssh: the session zygote's warm-up failed (%s): sessions start "
                            "slower", message["warm_error"])
            self.warmed = int(message.get("warmed", 0))
            if not self._ready.done():
                self._ready.set_result(int(message["ready"]))
        elif "exited" in message:
            status = self._exits.pop(int(message["exited"]), None)
            if status is not None and not status.done():
                status.set_result(int(message["code"]))
        else:
            reply = self._replies.pop(message.get("id"), None)  # type: ignore[arg-type]
            if reply is None or reply.done():
                return
            if "pid" in message:
                pid = int(message["pid"])
                # registered here, not in spawn(): its exit may be reported before spawn()
                # resumes
                self._exits[pid] = self._loop.create_future()
                reply.set_result(pid)
            else:
                reply.set_exception(SSHError(f"session zygote: {message.get('error')}"))

    def _lost(self) -> None:
        if self._sock is None:
            return
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        error = SSHError("the session zygote ended")
        if not self._ready.done():
            self._ready.set_exception(error)
        for future in [*self._replies.values(), *self._exits.values()]:
            if not future.done():
                future.set_exception(error)
        self._replies.clear()
        self._exits.clear()

    def _on_zygote_exit(self) -> None:
        """Its pidfd is readable: it ended; reap it (no wait: it is gone already)."""
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        if self.pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        self._lost()
        if not self._ended.done():
            self._ended.set_result(None)

    async def aclose(self, grace_s: float = 2.0) -> None:
        """Stop the zygote (its sessions are the server's to end: see PtySession)."""
        self._lost()
        if self.pid is None or self._ended.done():
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._ended), grace_s)
                return


def _spawn_zygote(env: Mapping[str, str], control_fd: int) -> tuple[int, int]:
    """Start ``python -m hivetui.zygote`` with ``control_fd`` as its fd 3: (pid, pidfd)."""
    pid = os.posix_spawn(
        sys.executable, [sys.executable, "-m", "hivetui.zygote"], dict(env),
        file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                      (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                      (os.POSIX_SPAWN_DUP2, control_fd, CONTROL_FD)],
        setsid=True, setsigmask=(),
        setsigdef=(signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD))
    try:
        return pid, os.pidfd_open(pid)
    except OSError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
