"""One SSH session: the operator's program on its own PTY, bytes bridged both ways.

The bridge uses the loop's readers and writers on the PTY master (no threads) and SSH
flow control both ways: when the client's window is full the PTY is not read (the
child blocks on write, as on a slow local terminal); when the child does not read its
input, the channel stops reading from the client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import asyncssh

from hivetui.core.errors import HiveError
from hivetui.ssh.ptychild import PtyChild, read_master

log = logging.getLogger(__name__)

_TERM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_INPUT_HIGH_WATER = 256 * 1024
# Leave the alternate screen, stop mouse reporting and bracketed paste, show the cursor:
# said before a message when the server (not the program) ends a session mid-screen.
TERMINAL_RESTORE = (b"\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
                    b"\x1b[?2004l\x1b[?25h\x1b[0m\r\n")


@dataclass(frozen=True)
class Identity:
    """Who is on the other end, as proven by the key (never as claimed by the client)."""

    operator: str
    read_only: bool
    fingerprint: str
    peer: str
    username: str


@dataclass(frozen=True)
class SessionInfo:
    operator: str
    read_only: bool
    fingerprint: str
    peer: str
    pid: int | None
    started_at: float


class SessionHost(Protocol):
    """What a session needs from the server that owns it."""

    idle_timeout_s: float
    kill_grace_s: float

    def reserve(self, session: PtySession) -> str | None:
        """Take a session slot; a refusal message if none is free."""

    def release(self, session: PtySession) -> None: ...

    def issue_token(self, identity: Identity) -> str: ...

    def revoke_token(self, token: str) -> None: ...

    async def spawn_child(self, env: Mapping[str, str], cols: int, rows: int, px_width: int,
                          px_height: int, modes: Mapping[int, int]) -> PtyChild:
        """The session's program on a new PTY of that size (HiveError if it cannot)."""

    def child_env(self, identity: Identity, term: str, token: str,
                  client_env: Mapping[str, str]) -> dict[str, str]: ...


class PtySession(asyncssh.SSHServerSession):  # type: ignore[type-arg]
    def __init__(self, host: SessionHost, identity: Identity) -> None:
        self.host = host
        self.identity = identity
        self._loop = asyncio.get_running_loop()
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._open = False
        self._term: str | None = None
        self._size = (80, 24, 0, 0)
        self._modes: Mapping[int, int] = {}
        self._command: str | None = None
        self.child: PtyChild | None = None
        self._inbuf = bytearray()
        self._writer_on = self._reader_on = self._chan_paused = self._out_paused = False
        self._eof = asyncio.Event()
        self._stop: asyncio.Future[str] = self._loop.create_future()
        self._task: asyncio.Task[None] | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self.last_input = self._loop.time()
        self.started_at = time.time()
        self.first_output_at: float | None = None

    @property
    def info(self) -> SessionInfo:
        i = self.identity
        return SessionInfo(i.operator, i.read_only, i.fingerprint, i.peer,
                           self.child.pid if self.child else None, self.started_at)

    # --- asyncssh callbacks ------------------------------------------------------------
    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan
        self._open = True

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int],
                      term_modes: Mapping[int, int]) -> bool:
        self._term = term_type if _TERM.match(term_type or "") else "xterm"
        if term_size[0] > 0 and term_size[1] > 0:
            self._size = term_size
        self._modes = dict(term_modes)
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int,
                              pixheight: int) -> None:
        if width <= 0 or height <= 0:
            return
        self._size = (width, height, pixwidth, pixheight)
        if self.child is not None:
            self.child.resize(width, height, pixwidth, pixheight)

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._command = command  # accepted only to be refused with a readable message
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        log.info("ssh: %s asked for subsystem %r: refused", self.identity.operator, subsystem)
        return False

    def session_started(self) -> None:
        if self._command is not None:
            self._refuse("this server runs the hivetui operator TUI only; remote commands "
                         "are not accepted (connect with plain `ssh`)")
        elif self._term is None:
            self._refuse("the hivetui TUI needs a terminal: connect with plain `ssh` "
                         "(or `ssh -t`), not `ssh -T`, and without a command")
        elif (refusal := self.host.reserve(self)) is not None:
            self._refuse(refusal)
        else:
            self._task = self._loop.create_task(self._run(), name=f"ssh-session-{id(self)}")

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.last_input = self._loop.time()
        self._inbuf += data
        self._flush_input()

    def eof_received(self) -> bool:
        return True  # keep the channel half-open: a terminal session ends with the program

    def pause_writing(self) -> None:
        self._out_paused = True
        self._set_reader(False)

    def resume_writing(self) -> None:
        self._out_paused = False
        self._set_reader(True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._open = False
        self.stop("disconnected")

    # --- lifecycle ---------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        if not self._stop.done():
            self._stop.set_result(reason)

    async def wait_closed(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    def _refuse(self, message: str) -> None:
        log.info("ssh: session of %s from %s refused: %s", self.identity.operator,
                 self.identity.peer, message)
        self._say(message)
        self._exit(1)

    def _say(self, message: str) -> None:
        if self._open and self._chan is not None:
            text = f"hivetui: {message}\r\n".encode()
            if self._term is None:
                self._chan.write_stderr(text)
            else:
                self._chan.write(text)

    def _exit(self, status: int) -> None:
        if self._open and self._chan is not None:
            self._open = False
            self._chan.exit(status)

    async def _run(self) -> None:
        token = ""
        try:
            token = self.host.issue_token(self.identity)
            assert self._term is not None
            env = self.host.child_env(self.identity, self._term, token,
                                      self._chan.get_environment() if self._chan else {})
            cols, rows, pxw, pxh = self._size
            try:
                self.child = await self.host.spawn_child(env, cols, rows, pxw, pxh,
                                                         self._modes)
            except HiveError as exc:
                log.error("ssh: session of %s: %s", self.identity.operator, exc)
                self._refuse(f"the operator TUI could not start: {exc}")
                return
            log.info("ssh: session started for %s (%s) from %s: pid %d, TERM=%s, %dx%d",
                     self.identity.operator, "read-only" if self.identity.read_only else
                     "read-write", self.identity.peer, self.child.pid, self._term, cols, rows)
            self.last_input = self._loop.time()
            self._set_reader(True)
            self._flush_input()
            self._arm_idle()
            await self._serve(self.child)
        except asyncio.CancelledError:
            if self.child is not None:  # the loop is going away: no time to be gentle
                self._set_reader(False)
                self._set_writer(False)
                self.child.kill_now()
            raise
        except Exception:
            log.exception("ssh: session of %s failed", self.identity.operator)
            self._set_reader(False)
            self._set_writer(False)
            if self.child is not None:
                await self.child.terminate(self.host.kill_grace_s)
            self._exit(1)
        finally:
            if self._idle_handle is not None:
                self._idle_handle.cancel()
            if token:
                self.host.revoke_token(token)
            self.host.release(self)

    async def _serve(self, child: PtyChild) -> None:
        ended = self._loop.create_task(self._child_done(child))
        waiters: list[asyncio.Future[Any]] = [ended, self._stop]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if ended.done():
            code = ended.result()
            self._set_reader(False)
            self._set_writer(False)
            await child.terminate(self.host.kill_grace_s)
            log.info("ssh: session of %s ended: program exited with %d",
                     self.identity.operator, code)
            if code < 0 and self._open and self._chan is not None:
                self._chan.write(TERMINAL_RESTORE)
                self._say(f"the operator TUI was killed by signal {-code}")
                self._exit(1)
            else:
                self._exit(code)
            return
        ended.cancel()
        reason = self._stop.result()
        self._set_reader(False)
        self._set_writer(False)
        code = await child.terminate(self.host.kill_grace_s)
        log.info("ssh: session of %s ended (%s): program stopped with %d",
                 self.identity.operator, reason, code)
        if reason != "disconnected" and self._open and self._chan is not None:
            self._chan.write(TERMINAL_RESTORE)
            self._say(f"session closed: {reason}")
            self._exit(1)

    async def _child_done(self, child: PtyChild) -> int:
        code = await asyncio.shield(child.exited)
        try:
            await asyncio.wait_for(self._eof.wait(), 1.0)
        except TimeoutError:
            log.debug("ssh: pid %d exited; its terminal output did not end within 1 s",
                      child.pid)
        return code

    # --- the bridge ----------------------------------------------------------------------
    def _set_reader(self, on: bool) -> None:
        child = self.child
        on = on and not self._out_paused and child is not None and child.master_fd >= 0 \
            and not self._eof.is_set()
        if on == self._reader_on or child is None:
            return
        self._reader_on = on
        if on:
            self._loop.add_reader(child.master_fd, self._on_output)
        elif child.master_fd >= 0:
            self._loop.remove_reader(child.master_fd)

    def _on_output(self) -> None:
        assert self.child is not None
        data = read_master(self.child.master_fd)
        if data is None:
            return
        if not data:
            self._set_reader(False)
            self._eof.set()
            return
        if self.first_output_at is None:
            self.first_output_at = time.time()
        if self._open and self._chan is not None:
            self._chan.write(data)

    def _set_writer(self, on: bool) -> None:
        child = self.child
        if on == self._writer_on or child is None or child.master_fd < 0:
            return
        self._writer_on = on
        if on:
            self._loop.add_writer(child.master_fd, self._flush_input)
        else:
            self._loop.remove_writer(child.master_fd)

    def _flush_input(self) -> None:
        child = self.child
        if child is None or child.master_fd < 0:
            if len(self._inbuf) > _INPUT_HIGH_WATER:
                del self._inbuf[:-_INPUT_HIGH_WATER]
            return
        while self._inbuf:
            try:
                n = os.write(child.master_fd, self._inbuf)
            except BlockingIOError:
                break
            except OSError as exc:
                log.debug("ssh: input to pid %d dropped: %s", child.pid, exc)
                self._inbuf.clear()
                break
            del self._inbuf[:n]
        self._set_writer(bool(self._inbuf))
        paused = len(self._inbuf) > _INPUT_HIGH_WATER
        if paused != self._chan_paused and self._chan is not None and self._open:
            self._chan_paused = paused
            if paused:
                self._chan.pause_reading()
            else:
                self._chan.resume_reading()

    # --- idle timeout --------------------------------------------------------------------
    def _arm_idle(self) -> None:
        timeout = self.host.idle_timeout_s
        if timeout <= 0:
            return
        self._idle_handle = self._loop.call_at(self.last_input + timeout, self._check_idle)

    def _check_idle(self) -> None:
        timeout = self.host.idle_timeout_s
        if self._loop.time() - self.last_input >= timeout - 0.001:
            self.stop(f"no input for {timeout:g} s (ssh.idle_timeout_s)")
        else:
            self._arm_idle()
