"""Child processes that are always reaped and whose pipes are always closed.

``asyncio.create_subprocess_exec`` leaves the child running and its pipe transports open
when the awaiting task is cancelled mid-``communicate()`` (they are reported as
``ResourceWarning: unclosed transport`` when the loop closes), and its ``wait()`` also waits
for the pipes' EOF, which a grandchild holding them can delay forever. :class:`Child` owns
its transport (``loop.subprocess_exec``), so :meth:`Child.aclose` can always close it.

Every child starts in a new session (process group = its pid), so giving up on one
(:meth:`Child.aclose` with ``kill_group=True``: cancellation, timeout) SIGKILLs the
grandchildren it made too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: How long :meth:`Child.aclose` waits for the child to be reaped after closing it.
REAP_TIMEOUT = 5.0


class _Collector(asyncio.SubprocessProtocol):
    """Keeps stdout and stderr in memory; pauses stdout above ``limit`` (if set)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.out = bytearray()
        self.err = bytearray()
        self.stdout_eof = False
        self.paused = False
        self.transport: asyncio.SubprocessTransport | None = None
        loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = loop.create_future()  # exited, pipes closed
        self._changed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        if fd != 1:
            self.err += raw
            return
        self.out += raw
        self._changed.set()
        if self.limit is not None and len(self.out) > self.limit:
            self._pause(True)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.stdout_eof = True
            self._changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stdout_eof = True
        self._changed.set()
        if not self.finished.done():
            self.finished.set_result(None)

    async def changed(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def _pause(self, pause: bool) -> None:
        pipe = self.transport.get_pipe_transport(1) if self.transport else None
        if pause == self.paused or not isinstance(pipe, asyncio.ReadTransport) \
                or pipe.is_closing():
            return
        self.paused = pause
        if pause:
            pipe.pause_reading()
        else:
            pipe.resume_reading()


class Child:
    """One child process (stdin ``/dev/null``, stdout piped, stderr piped or a given fd).

    Use :meth:`spawn`; always end with :meth:`aclose` (``try/finally``).
    """

    def __init__(self, argv: Sequence[str], transport: asyncio.SubprocessTransport,
                 protocol: _Collector) -> None:
        self.argv = list(argv)
        self._transport = transport
        self._protocol = protocol

    @classmethod
    async def spawn(cls, argv: Sequence[str], *, stderr: int = subprocess.PIPE,
                    env: Mapping[str, str] | None = None,
                    limit: int | None = None) -> Child:
        """Start ``argv``; ``limit`` bounds buffered stdout for :meth:`readline` readers
        (None: keep everything, for :meth:`wait` callers). Raises OSError if it cannot."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            lambda: _Collector(limit), *argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=stderr, env=env, start_new_session=True)
        return cls(argv, transport, protocol)

    @property
    def pid(self) -> int:
        pid = self._transport.get_pid()
        assert pid is not None
        return pid

    @property
    def returncode(self) -> int | None:
        return self._transport.get_returncode()

    @property
    def stdout(self) -> bytes:
        """What stdout gave that :meth:`readline` has not taken."""
        return bytes(self._protocol.out)

    @property
    def stderr(self) -> bytes:
        return bytes(self._protocol.err)

    async def readline(self) -> bytes:
        """The next stdout line with its ``\\n``; at EOF what is left, then ``b""``."""
        proto = self._protocol
        while True:
            end = proto.out.find(b"\n")
            if end >= 0 or proto.stdout_eof:
                cut = end + 1 if end >= 0 else len(proto.out)
                line = bytes(proto.out[:cut])
                del proto.out[:cut]
                if proto.limit is None or len(proto.out) <= proto.limit:
                    proto._pause(False)
                return line
            await proto.changed()

    async def wait(self) -> int:
        """Wait until the child has exited and its pipes reached EOF; the exit status."""
        await asyncio.shield(self._protocol.finished)
        code = self.returncode
        assert code is not None
        return code

    async def aclose(self, *, kill_group: bool) -> None:
        """Close the pipes, SIGKILL the child if it still runs, and reap it.

        ``kill_group``: SIGKILL its whole process group first (giving up on it, e.g. on
        cancellation or timeout). Safe to call more than once and while being cancelled.
        """
        self._transport.close()  # SIGKILLs the child itself if it still runs
        if kill_group:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # the group outlives a reaped leader
            except (ProcessLookupError, PermissionError):
                pass  # nothing of the group is left
        try:
            async with asyncio.timeout(REAP_TIMEOUT):
                await asyncio.shield(self._protocol.finished)
        except TimeoutError:
            log.warning("child %s (pid %s) not reaped %.0fs after SIGKILL",
                        self.argv[0], self.pid, REAP_TIMEOUT)


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes


async def run(argv: Sequence[str], *, timeout: float | None = None) -> Completed:
    """Run ``argv`` to completion, output in memory.

    On timeout (raises TimeoutError) or cancellation (re-raised) the child's process group is
    SIGKILLed, its pipes closed and the child reaped before the exception propagates.
    Raises OSError if it cannot start.
    """
    child = await Child.spawn(argv)
    try:
        async with asyncio.timeout(timeout):
            code = await child.wait()
    except BaseException:
        await child.aclose(kill_group=True)
        raise
    await child.aclose(kill_group=False)
    return Completed(code, child.stdout, child.stderr)
