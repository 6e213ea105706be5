"""A child process on its own PTY, made its controlling terminal, watched without threads.

The child is started with ``posix_spawn``: it becomes a session leader (``setsid``) and
then opens the PTY slave by path without ``O_NOCTTY``, which on Linux makes that PTY its
controlling terminal — so a TIOCSWINSZ on the master sends SIGWINCH to it, ^C reaches it
as SIGINT, and a hang-up reaches its whole session. No Python runs between fork and exec
(the server's loop may have threads: aiosqlite, uvicorn), and the exit is watched through
a pidfd on the event loop, not a child-watcher thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import struct
import termios
from collections.abc import Mapping, Sequence

from hivetui.core.errors import SSHError

log = logging.getLogger(__name__)

# Signals a server might ignore (Python ignores SIGPIPE/SIGXFSZ; nohup ignores SIGHUP).
# Ignored dispositions survive exec, so the child gets them back at their defaults.
_RESET_SIGNALS = (
    signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE,
    signal.SIGXFSZ, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD,
    signal.SIGWINCH,
)
# RFC 4254 section 8 opcodes → termios control-character indices.
_CC_MODES = {1: termios.VINTR, 2: termios.VQUIT, 3: termios.VERASE, 4: termios.VKILL,
             5: termios.VEOF}
_IUTF8_OPCODE = 42
_IUTF8: int = getattr(termios, "IUTF8", 0o40000)  # Linux value; not in typeshed


def set_winsize(fd: int, cols: int, rows: int, px_width: int = 0, px_height: int = 0) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ,
                struct.pack("HHHH", max(rows, 1), max(cols, 1), px_width, px_height))


def apply_modes(fd: int, modes: Mapping[int, int]) -> None:
    """Apply the client's erase/interrupt characters and IUTF8 (what sshd honours most)."""
    attrs = termios.tcgetattr(fd)
    cc = attrs[6]
    for opcode, index in _CC_MODES.items():
        value = modes.get(opcode)
        if value is not None and 0 <= value < 256:
            cc[index] = bytes([value])
    if modes.get(_IUTF8_OPCODE):
        attrs[0] |= _IUTF8
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def open_pty(cols: int, rows: int, px_width: int = 0, px_height: int = 0,
             modes: Mapping[int, int] | None = None) -> tuple[int, int]:
    """A new PTY (master, slave) of that size with the client's modes."""
    master, slave = os.openpty()
    try:
        set_winsize(slave, cols, rows, px_width, px_height)
        apply_modes(slave, modes or {})
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return master, slave


def _proc_stat(pid: int) -> tuple[str, int, int, int, int] | None:
    """(state, ppid, pgid, sid, starttime) of ``pid`` from /proc, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()
    try:
        return fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _all_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


class PtyChild:
    """One spawned child: its pid (= its process group and session id) and the PTY master.

    ``status``: for a child of another process (the session zygote), the exit status its
    parent reports; otherwise this process reaps the child itself.
    """

    def __init__(self, pid: int, master_fd: int, pidfd: int,
                 status: asyncio.Future[int] | None = None) -> None:
        self.pid = pid
        self.master_fd = master_fd
        self._pidfd = pidfd
        self._status = status
        self._loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int] = self._loop.create_future()
        self._tree: dict[int, int] = {}
        self._loop.add_reader(pidfd, self._on_exit)

    @classmethod
    def spawn(cls, argv: Sequence[str], env: Mapping[str, str], cols: int, rows: int,
              px_width: int = 0, px_height: int = 0, modes: Mapping[int, int] | None = None
              ) -> PtyChild:
        if not argv:
            raise SSHError("the session program is empty: configure a child argv")
        program = argv[0]
        exe = program if "/" in program else shutil.which(
            program, path=env.get("PATH", os.defpath))
        if exe is None:
            raise SSHError(f"session program {program!r} is not on PATH")
        master, slave = open_pty(cols, rows, px_width, px_height, modes)
        try:
            slave_path = os.ttyname(slave)
            pid = os.posix_spawn(
                exe, list(argv), dict(env),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, slave_path, os.O_RDWR, 0),
                    (os.POSIX_SPAWN_DUP2, 0, 1),
                    (os.POSIX_SPAWN_DUP2, 0, 2),
                ],
                setsid=True, setsigmask=(), setsigdef=_RESET_SIGNALS,
            )
        except OSError as exc:
            os.close(master)
            raise SSHError(f"cannot start session program {program!r}: {exc}") from exc
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(master)
            raise
        log.debug("spawned %s as pid %d on %s", argv, pid, slave_path)
        return cls(pid, master, pidfd)

    # --- the running child ------------------------------------------------------------
    def resize(self, cols: int, rows: int, px_width: int = 0, px_height: int = 0) -> None:
        """TIOCSWINSZ on the master: the kernel sends SIGWINCH to the foreground group."""
        if self.master_fd >= 0:
            set_winsize(self.master_fd, cols, rows, px_width, px_height)

    def _on_exit(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        if self._status is not None:
            self._status.add_done_callback(self._reported)
            return
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            log.error("pid %d was reaped by someone else; its exit status is lost", self.pid)
            code = -1
        if not self.exited.done():
            self.exited.set_result(code)

    def _reported(self, status: asyncio.Future[int]) -> None:
        code = -1
        if status.cancelled() or status.exception() is not None:
            log.error("pid %d ended; its parent could not report its exit status", self.pid)
        else:
            code = status.result()
        if not self.exited.done():
            self.exited.set_result(code)

    def close_master(self) -> None:
        """Hang up the terminal (SIGHUP to the child's session) and release the fd."""
        if self.master_fd >= 0:
            fd, self.master_fd = self.master_fd, -1
            os.close(fd)

    def _snapshot_tree(self) -> None:
        """Remember the child's descendants (pid → start time) before anything dies."""
        stats = {pid: st for pid in _all_pids() if (st := _proc_stat(pid)) is not None}
        parents = {self.pid}
        grew = True
        while grew:
            grew = False
            for pid, (_, ppid, _, _, start) in stats.items():
                if ppid in parents and pid not in parents:
                    parents.add(pid)
                    self._tree[pid] = start
                    grew = True

    def leftovers(self) -> list[int]:
        """Live processes of the child's session or group, or remembered descendants."""
        found = []
        for pid in _all_pids():
            st = _proc_stat(pid)
            if st is None or st[0] in ("Z", "X") or (pid == self.pid and self.exited.done()):
                continue
            if st[2] == self.pid or st[3] == self.pid or self._tree.get(pid) == st[4]:
                found.append(pid)
        return found

    def _signal(self, sig: signal.Signals, pids: Sequence[int]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    async def terminate(self, grace_s: float = 1.0) -> int:
        """End the child and everything it left: SIGHUP, then SIGTERM, then SIGKILL.

        Descendants are listed first (they may live in sessions of their own), then the
        terminal is hung up. Works on a child that already exited too (then it only sweeps
        its session and group).
        Returns the child's exit code (negative: killed by that signal).
        """
        if not self.exited.done():
            self._snapshot_tree()
        self.close_master()
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
            pids = self.leftovers()
            if not pids and self.exited.done():
                break
            log.debug("pid %d: sending %s to %s", self.pid, sig.name, pids)
            self._signal(sig, pids)
            if sig == signal.SIGHUP:
                self._signal(signal.SIGCONT, pids)
            if await self._gone(grace_s if sig != signal.SIGKILL else 5.0):
                break
        else:
            left = self.leftovers()
            if left:
                raise SSHError(f"session processes {left} survived SIGKILL")
        return await self.exited

    def kill_now(self) -> None:
        """SIGKILL the child's group, session and descendants at once (no waiting)."""
        if not self.exited.done():
            self._snapshot_tree()
        self._signal(signal.SIGKILL, self.leftovers())
        self.close_master()

    async def _gone(self, timeout: float) -> bool:
        deadline = self._loop.time() + timeout
        while True:
            if self.exited.done() and not self.leftovers():
                return True
            if self._loop.time() >= deadline:
                return False
            if not self.exited.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.exited), 0.05)
            else:
                await asyncio.sleep(0.05)


def read_master(fd: int, size: int = 65536) -> bytes | None:
    """Non-blocking read from a PTY master: data, b"" at hang-up (EIO), None if nothing yet."""
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno == errno.EIO:
            return b""
        raise
