"""hivetui.containers.subproc against real child processes."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from hivetui.containers import subproc


async def test_run_collects_output_and_status() -> None:
    done = await subproc.run([sys.executable, "-c", "import sys; print('out'); "
                              "print('err', file=sys.stderr); sys.exit(3)"])
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")


async def test_run_missing_program_is_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        await subproc.run([str(tmp_path / "no-such-program")])


async def test_timeout_kills_the_group_at_once(tmp_path: Path) -> None:
    """A grandchild holding the pipes would keep ``Process.wait()`` waiting for EOF."""
    pidfile = tmp_path / "grandchild"
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await subproc.run(["/bin/sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"],
                          timeout=0.5)
    assert time.monotonic() - began < 3
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while (stat := Path(f"/proc/{grandchild}/stat")).exists() \
            and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the grandchild still runs"
        await asyncio.sleep(0.02)


async def test_readline_pauses_above_the_limit_and_loses_nothing() -> None:
    lines = 20_000  # ~1.2 MB through a 16 KiB limit: reading pauses and resumes many times
    child = await subproc.Child.spawn(
        [sys.executable, "-c", f"for i in range({lines}): print(f'line {{i:06d}}' * 5)"],
        limit=16 * 1024)
    try:
        got = []
        while raw := await child.readline():
            got.append(raw)
            if len(got) == 10:
                await asyncio.sleep(0.2)  # a slow consumer: the child fills the pipe
                # bounded by the limit (plus one pipe read of at most 256 KiB)
                assert len(child.stdout) <= 16 * 1024 + 256 * 1024
        assert await child.wait() == 0
    finally:
        await child.aclose(kill_group=child.returncode is None)
    assert len(got) == lines
    assert got[-1] == f"line {lines - 1:06d}".encode() * 5 + b"\n"


async def test_readline_returns_an_unterminated_tail_then_eof() -> None:
    child = await subproc.Child.spawn(["/bin/sh", "-c", "printf 'a\\nb'"])
    try:
        assert [await child.readline() for _ in range(3)] == [b"a\n", b"b", b""]
    finally:
        await child.aclose(kill_group=False)
