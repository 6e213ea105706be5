"""Reading a container log: its last lines, and new lines as they come."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

FOLLOW_POLL_S = 0.1


def tail_lines(path: Path, lines: int) -> list[str]:
    """The last ``lines`` complete or partial lines of ``path`` ([] if it does not exist)."""
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

    Survives truncation (starts over at the beginning). Cancel the iteration to stop.
    """
    pos: int | None = None
    pending = b""
    while True:
        try:
            size: int | None = os.stat(path).st_size
        except FileNotFoundError:
            size = None
        if size is not None:
            if pos is None:
                pos = size
            elif size < pos:
                pos, pending = 0, b""
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
