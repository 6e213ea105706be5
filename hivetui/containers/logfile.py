"""Container logs: their last lines, new lines as they come, and rotation by size.

A log rotates as the core's own does (``logging.handlers.RotatingFileHandler``): ``NAME``
becomes ``NAME.1``, ``NAME.1`` becomes ``NAME.2`` … up to ``NAME.<keep>``; the oldest goes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

FOLLOW_POLL_S = 0.1


def rotate(path: Path, keep: int) -> None:
    """Shift ``path`` to ``path.1`` (and older ones up, ``keep`` in all); 0 keeps none."""
    if keep <= 0:
        path.unlink(missing_ok=True)
        return
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
    if path.exists():
        os.replace(path, path.with_name(f"{path.name}.1"))


def rotate_if_over(path: Path, max_bytes: int, keep: int) -> None:
    """Rotate ``path`` if it holds ``max_bytes`` or more (0: no limit)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if max_bytes > 0 and size >= max_bytes:
        rotate(path, keep)


class RotatingLog:
    """An append-only binary log that rotates before a write would take it past
    ``max_bytes`` (0: never). Used by the supervisor, which writes every line itself."""

    def __init__(self, path: Path, max_bytes: int, keep: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._fh = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self._size = os.fstat(self._fh.fileno()).st_size

    def write(self, data: bytes) -> None:
        if self.max_bytes and self._size and self._size + len(data) > self.max_bytes:
            self._fh.close()
            rotate(self.path, self.keep)
            self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - as above
            self._size = 0
        self._fh.write(data)
        self._size += len(data)

    def close(self) -> None:
        self._fh.close()


def tail_lines(path: Path, lines: int) -> list[str]:
    """The last ``lines`` complete or partial lines of ``path`` ([] if it does not exist),
    reaching into the last rotated file (``path.1``) when ``path`` was just rotated."""
    got = _tail(path, lines)
    if len(got) < lines:
        got = _tail(path.with_name(path.name + ".1"), lines - len(got)) + got
    return got


def _tail(path: Path, lines: int) -> list[str]:
    if lines <= 0:
        return []
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return []
    with fh:
        end = fh.seek(0, os.SEEK_END)
        block = 8192
        data = b""
        pos = end
        while pos > 0 and data.count(b"\n") <= lines:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
            block *= 2
    text = data.decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]


async def follow_lines(path: Path, poll_s: float = FOLLOW_POLL_S) -> AsyncIterator[str]:
    """Lines appended to ``path`` from now on; waits for the file to appear; never ends.

    Survives truncation and rotation (starts over at the beginning of the new file).
    Cancel the iteration to stop.
    """
    pos: int | None = None
    inode = 0
    pending = b""
    while True:
        try:
            st = os.stat(path)
            size: int | None = st.st_size
        except FileNotFoundError:
            size = None
        if size is not None:
            if pos is None:
                pos, inode = size, st.st_ino
            elif size < pos or st.st_ino != inode:
                pos, inode, pending = 0, st.st_ino, b""
            if size > pos:
                fd = os.open(path, os.O_RDONLY)
                try:
                    chunk = os.pread(fd, size - pos, pos)
                finally:
                    os.close(fd)
                pos += len(chunk)
                *complete, pending = (pending + chunk).split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", errors="replace")
                continue
        elif pos is None:
            pos = 0  # a log created later is read from its start
        await asyncio.sleep(poll_s)
