"""The shell process on its own PTY, and the reader that feeds its output with backpressure.

No textual import: the process and the pump work in any asyncio program.

* ``PtyProcess.spawn`` starts ``argv`` with ptyprocess: fork, ``setsid``, the
  PTY slave as controlling terminal of the new session, the window size set
  before ``exec``.
* ``OutputPump`` reads the master fd in a thread of its own into a bounded buffer
  (coalescing reads; the loop never waits in the kernel's tty layer) and hands it
  to a consumer on the loop one slice per event-loop turn, and only in a turn
  where nothing else is ready to run (a key, a message of the app, a screen
  update) and no key for the app came in the last ``settle`` seconds, unless it
  has waited ``max_defer`` seconds: the app's own work goes first, the terminal
  is what lags. A slice is sized from the consumer's measured cost to take about
  ``slice_budget`` seconds (one 4 KB chunk of a scrolling flood once cost a
  pure-Python emulator 100 ms and more; the app would wait that long at every step
  of its own work). The cost is CPU time: on a loaded machine a slice's wall time
  includes waiting for a CPU, and slices sized on it shrank until their fixed cost
  was all they did. When the buffer is full the reader stops reading: the kernel
  buffer fills and the producer blocks in ``write()`` instead of the loop
  drowning; the buffer is kept small (8 KB) because the echo of a key typed
  during a flood waits behind all of it. A throttled pump (hidden terminal)
  feeds at a bounded rate.
* ``aclose()`` ends the session: SIGHUP to the process group, then SIGKILL,
  and the child is reaped (no zombie).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import select
import signal
import struct
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ptyprocess

from hivetui.core.errors import TerminalError

log = logging.getLogger(__name__)

DEFAULT_TERM = "xterm-256color"
#: Bounds of a pump slice (bytes): small enough for a costly flood, large for cheap text.
MIN_SLICE = 64
MAX_SLICE = 65536


@dataclass(frozen=True)
class ExitStatus:
    """How the child ended: ``code`` when it exited, ``signal`` when a signal killed it."""

    code: int | None
    signal: int | None

    @property
    def returncode(self) -> int:
        """subprocess-style: the exit code, or minus the signal number."""
        if self.signal is not None:
            return -self.signal
        return self.code if self.code is not None else 0

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            return f"[process killed by signal {name}]"
        return f"[process exited with status {self.code}]"

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        if os.WIFSIGNALED(status):
            return cls(code=None, signal=os.WTERMSIG(status))
        return cls(code=os.WEXITSTATUS(status), signal=None)


def terminal_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The child's environment: ``env`` (or ours) with TERM/COLORTERM set if missing."""
    result = dict(os.environ if env is None else env)
    result.setdefault("TERM", DEFAULT_TERM)
    result.setdefault("COLORTERM", "truecolor")
    for name in ("COLUMNS", "LINES"):  # the PTY's size is the truth; stale values mislead
        result.pop(name, None)
    return result


class PtyProcess:
    """A child process whose controlling terminal is a PTY we hold the master of."""

    def __init__(self, proc: ptyprocess.PtyProcess, argv: Sequence[str]) -> None:
        self._proc = proc
        self.argv = list(argv)
        self.pid: int = proc.pid
        self.fd: int = proc.fd
        os.set_blocking(self.fd, False)
        self.exit_status: ExitStatus | None = None
        self._closed = False
        self._out = bytearray()
        self._writing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        rows: int = 24,
        columns: int = 80,
    ) -> PtyProcess:
        if not argv:
            raise TerminalError("terminal: argv is empty; give the program to run, e.g. ['bash']")
        try:
            proc = ptyprocess.PtyProcess.spawn(
                list(argv),
                cwd=None if cwd is None else os.fspath(cwd),
                env=terminal_env(env),
                dimensions=(max(1, rows), max(1, columns)),
            )
        except (OSError, ptyprocess.PtyProcessError) as error:
            raise TerminalError(f"terminal: cannot start {argv[0]!r}: {error}") from error
        log.debug("terminal: spawned %s as pid %s", argv, proc.pid)
        return cls(proc, argv)

    # ----- size ----------------------------------------------------------------

    def set_size(self, rows: int, columns: int) -> None:
        """TIOCSWINSZ on the master: the kernel sends SIGWINCH to the foreground group."""
        if self._closed:
            return
        packed = struct.pack("HHHH", max(1, rows), max(1, columns), 0, 0)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, packed)

    def get_size(self) -> tuple[int, int]:
        rows, columns, _, _ = struct.unpack(
            "HHHH", fcntl.ioctl(self.fd, termios.TIOCGWINSZ, b"\0" * 8)
        )
        return rows, columns

    def queued_output(self) -> int:
        """Bytes the program wrote that the kernel holds for us to read (FIONREAD)."""
        if self._closed:
            return 0
        try:
            raw = fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", raw)[0])

    # ----- input ---------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes for the program; written without blocking, in order."""
        if self._closed or not data:
            return
        self._out += data
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        while self._out and not self._closed:
            try:
                written = os.write(self.fd, self._out)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno in (errno.EIO, errno.EBADF):  # the other side is gone
                    self._out.clear()
                    break
                raise
            del self._out[:written]
        want_writer = bool(self._out) and not self._closed
        if want_writer != self._writing:
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            if want_writer:
                loop.add_writer(self.fd, self._flush)
            else:
                loop.remove_writer(self.fd)
            self._writing = want_writer

    # ----- exit ----------------------------------------------------------------

    def poll(self) -> ExitStatus | None:
        """Reap the child if it has exited (never blocks)."""
        if self.exit_status is not None:
            return self.exit_status
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.exit_status = ExitStatus(code=None, signal=None)
            self._mark_reaped()
            return self.exit_status
        if pid == 0:
            return None
        self.exit_status = ExitStatus.from_wait_status(status)
        self._mark_reaped()
        return self.exit_status

    def _mark_reaped(self) -> None:
        # Keep ptyprocess from waiting on (or signalling) a pid we already reaped.
        self._proc.terminated = True
        if self.exit_status is not None:
            self._proc.exitstatus = self.exit_status.code
            self._proc.signalstatus = self.exit_status.signal

    async def wait(self, timeout: float | None = None, interval: float = 0.01) -> ExitStatus | None:
        """Wait for the child to exit; ``None`` if it is still running after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 0.1)
        return status

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the child's process group (it leads its own session)."""
        if self.exit_status is not None:
            return
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(self.pid, signum)

    def close_fd(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writing and self._loop is not None:
            self._loop.remove_writer(self.fd)
            self._writing = False
        self._proc.fileobj.close()
        self._proc.closed = True
        self._proc.fd = -1

    async def aclose(self, grace: float = 1.0) -> ExitStatus:
        """End the session: SIGHUP, then SIGKILL after ``grace`` seconds; reap the child."""
        if self.poll() is None:
            self.signal_group(signal.SIGHUP)
            self.signal_group(signal.SIGCONT)
            status = await self.wait(timeout=grace)
            if status is None:
                log.debug("terminal: pid %s ignored SIGHUP, killing it", self.pid)
                self.signal_group(signal.SIGKILL)
                status = await self.wait(timeout=5.0)
            if status is None:
                raise TerminalError(f"terminal: pid {self.pid} survived SIGKILL; cannot reap it")
        self.close_fd()
        assert self.exit_status is not None
        return self.exit_status

    def kill_now(self) -> None:
        """Synchronous last resort (interpreter shutdown): SIGHUP + SIGKILL, close the fd."""
        self.signal_group(signal.SIGHUP)
        self.signal_group(signal.SIGKILL)
        self.close_fd()


def others_ready(loop: asyncio.AbstractEventLoop | None) -> bool:
    """Whether work other than terminal output waits in ``loop``'s ready queue.

    asyncio has no idle priority; its ready queue (``_ready`` of the standard loops, of
    ``Handle``s) is the one place that says whether anything else wants to run now. The
    pumps' own steps and reads do not count (two flooding terminals must not wait on each
    other). A loop without that queue reports False: the caller simply takes its turn.
    """
    return any(not isinstance(getattr(getattr(handle, "_callback", None), "__self__", None),
                              OutputPump)
               for handle in getattr(loop, "_ready", ()))


class AppInput:
    """When the operator last pressed a key meant for the app (not for a terminal)."""

    at = float("-inf")

    @classmethod
    def note(cls, now: float) -> None:
        cls.at = now


class Yielding:
    """Lets the app's other work go first, for at most ``max_defer`` seconds in a row.

    While other work is ready, wait a turn. For ``settle`` seconds after a key meant for
    the app (:class:`AppInput`), wait in any case (``settle`` bounds it; time already
    spent waiting for other work does not cut it short): what the key does usually
    ends in a screen update that is timed, not ready, and it should be composed and
    written without a terminal frame or a batch of output in front of it.
    """

    def __init__(self, clock: Callable[[], float], max_defer: float,
                 settle: float = 0.0) -> None:
        self._clock = clock
        self.max_defer = max_defer
        self.settle = settle
        self._since: float | None = None

    def delay(self, loop: asyncio.AbstractEventLoop | None) -> float | None:
        """``None``: go now; ``0.0``: other work is ready, try next turn; else seconds."""
        now = self._clock()
        if 0 <= now - AppInput.at < self.settle:
            self._since = None  # the bound on waiting for other work starts after it
            return AppInput.at + self.settle - now
        if not others_ready(loop):
            self._since = None
            return None
        if self._since is None:
            self._since = now
        if now - self._since >= self.max_defer:
            self._since = None
            return None
        return 0.0

    def waits(self, loop: asyncio.AbstractEventLoop | None) -> bool:
        """True: wait (see :meth:`delay`); False: go now."""
        return self.delay(loop) is not None


class OutputPump:
    """Reads a PTY master into a bounded buffer and feeds a consumer in time slices.

    A thread of its own reads (``os.read`` of a PTY waits in the kernel for the tty
    layer to hand data over, which on a loaded machine takes milliseconds; the loop
    never waits there) and stops reading while the buffer is full. ``consumer(data)``
    runs on the loop; ``on_eof()`` once when the child's side closed. ``stop()`` ends
    the reader before it returns, so the fd may be closed right after.
    """

    def __init__(
        self,
        fd: int,
        consumer: Callable[[bytes], None],
        on_eof: Callable[[], None],
        *,
        high_water: int = 8192,
        low_water: int = 2048,
        slice_bytes: int = 4096,
        slice_budget: float = 0.002,
        throttled_interval: float = 0.05,
        clock: Callable[[], float] = time.perf_counter,
        cost_clock: Callable[[], float] = time.thread_time,
        max_defer: float = 0.1,
        settle: float = 0.1,
    ) -> None:
        self.fd = fd
        self._consumer = consumer
        self._on_eof = on_eof
        self.high_water = high_water
        self.low_water = low_water
        self.slice_bytes = slice_bytes
        self.slice_budget = slice_budget
        self.throttled_interval = throttled_interval
        self.throttled = False
        self._cost_clock = cost_clock
        self._yielding = Yielding(clock, max_defer, settle)
        self.deferrals = 0
        #: The next slice's size: starts small, then follows the consumer's cost per byte.
        self._slice = MIN_SLICE
        #: Guards what the reader thread shares with the loop: the buffer and the flags.
        self._cond = threading.Condition()
        self._buf = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._reading = False
        self._told = False  # the loop has been told of data it has not looked at yet
        self._step_handle: asyncio.Handle | None = None
        self._eof = False
        self._stopped = False
        #: Counters for tests and benchmarks.
        self.bytes_read = 0
        self.bytes_fed = 0
        self.pauses = 0

    @property
    def pending(self) -> int:
        return len(self._buf)

    @property
    def reading(self) -> bool:
        """Whether the reader is reading (False while the buffer is full, and at the end)."""
        return self._reading

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = os.pipe()
        self._reader = threading.Thread(target=self._read_loop, name=f"pty-reader-{self.fd}",
                                        daemon=True)
        self._reading = True
        self._reader.start()

    def stop(self) -> None:
        """Stop feeding and end the reader thread (it is gone when this returns)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._wake is not None:
            os.write(self._wake[1], b"x")
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join()
            self._reader = None
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None
        self._reading = False
        if self._step_handle is not None:
            self._step_handle.cancel()
            self._step_handle = None

    def set_throttled(self, throttled: bool) -> None:
        """Throttled: one slice of at most ``slice_bytes`` per ``throttled_interval`` (a
        hidden terminal)."""
        if throttled == self.throttled:
            return
        self.throttled = throttled
        if not throttled and self._buf and self._step_handle is not None:
            self._step_handle.cancel()
            self._step_handle = None
            self._schedule_step()

    # ----- the reader thread (nothing of the loop's but call_soon_threadsafe) ---------

    def _read_loop(self) -> None:
        assert self._wake is not None and self._loop is not None
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        while self._room() > 0:
            poller.poll()
            with self._cond:
                if self._stopped:
                    return
            data = self._read_some()
            if data is None:
                continue  # nothing after all (another reader, a spurious wake-up)
            with self._cond:
                if data:
                    self._buf += data
                    self.bytes_read += len(data)
                else:
                    self._eof = True
                    self._reading = False
                tell, self._told = not self._told, True
            if tell:
                try:
                    self._loop.call_soon_threadsafe(self._data_arrived)
                except RuntimeError:  # the loop is closed: nobody to feed
                    return
            if not data:
                return

    def _room(self) -> int:
        """Bytes the buffer may take now; waits while it is full (backpressure: the
        producer blocks in the kernel). 0 once stopped."""
        with self._cond:
            if len(self._buf) >= self.high_water and not self._stopped:
                self.pauses += 1
                self._reading = False
                while len(self._buf) > self.low_water and not self._stopped:
                    self._cond.wait()
                self._reading = not self._stopped
            return 0 if self._stopped else self.high_water - len(self._buf)

    def _read_some(self) -> bytes | None:
        """One read (at most what the buffer has room for); b"" at the end, None if none."""
        try:
            return os.read(self.fd, max(self.high_water - len(self._buf), 1024))
        except BlockingIOError:
            return None
        except OSError as error:
            if error.errno != errno.EIO:  # EIO: the slave side is closed (Linux)
                log.warning("terminal: reading the pty failed: %s", error)
            return b""

    # ----- feeding, on the loop ------------------------------------------------------

    def _data_arrived(self) -> None:
        with self._cond:
            self._told = False
        self._schedule_step()

    def _schedule_step(self, wait: float = 0.0) -> None:
        if self._step_handle is not None or self._stopped or self._loop is None:
            return
        if wait > 0:
            self._step_handle = self._loop.call_later(wait, self._step)
        elif self.throttled:
            self._step_handle = self._loop.call_later(self.throttled_interval, self._step)
        else:
            self._step_handle = self._loop.call_soon(self._step)

    def _step(self) -> None:
        """Feed one slice; the next waits for a later turn of the loop."""
        self._step_handle = None
        if self._stopped:
            return
        buf = self._buf
        wait = None if self.throttled or not buf else self._yielding.delay(self._loop)
        if wait is not None:
            self.deferrals += 1
            self._schedule_step(wait)
            return
        if buf:
            size = min(self._slice, self.slice_bytes) if self.throttled else self._slice
            with self._cond:
                chunk = bytes(buf[:size])
                del buf[: len(chunk)]
                if not self._reading and len(buf) <= self.low_water:
                    self._cond.notify_all()  # the reader waits for room: it may go on
            self.bytes_fed += len(chunk)
            started = self._cost_clock()
            self._consumer(chunk)
            self._fit_slice(len(chunk), self._cost_clock() - started)
        if buf:
            self._schedule_step()
        elif self._eof:
            self.stop()
            self._on_eof()

    def _fit_slice(self, fed: int, cost: float) -> None:
        """Size the next slice so that it costs about ``slice_budget`` seconds."""
        if fed < self._slice and cost < self.slice_budget:
            return  # a short slice (the buffer ran dry) says little about the cost
        fitted = fed * self.slice_budget / max(cost, 1e-6)
        self._slice = int(min(MAX_SLICE, max(MIN_SLICE, fitted)))
