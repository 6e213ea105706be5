"""Run a runtime's subprocess in its own process group, streaming stdout lines.

Whatever way the run ends (exit, parser error, cancellation by the turn timeout), the whole
process group is gone afterwards: SIGTERM, a short grace, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hivetui.core.errors import HarnessError

log = logging.getLogger(__name__)

LINE_LIMIT = 32 * 1024 * 1024  # stream-json lines carry whole tool results
KILL_GRACE_S = 2.0
EOF_GRACE_S = 1.0


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stderr_tail: tuple[str, ...]


def kill_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when it is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    if kill_group(pgid, signal.SIGTERM):
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), KILL_GRACE_S)
        except TimeoutError:
            log.warning("process group %s ignored SIGTERM for %.1fs: SIGKILL", pgid,
                        KILL_GRACE_S)
    kill_group(pgid, signal.SIGKILL)  # leftovers (children that outlived the leader)
    if proc.returncode is None:
        await proc.wait()


async def run_process(argv: list[str], stdin_data: str, *, cwd: Path,
                      env: Mapping[str, str], on_line: Callable[[str], None],
                      stderr_lines: int = 40) -> ProcessResult:
    """Run ``argv``; feed ``on_line`` each stdout line as it comes.

    An exception from ``on_line`` stops the run (the group is killed) and propagates.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, limit=LINE_LIMIT,
        )
    except FileNotFoundError as exc:
        raise HarnessError(f"cannot run {argv[0]!r}: not found (the core passes the "
                           "program it resolved in HIVETUI_CLAUDE_BIN)") from exc
    except OSError as exc:
        raise HarnessError(f"cannot run {argv[0]!r}: {exc}") from exc
    tail: deque[str] = deque(maxlen=stderr_lines)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr

    async def feed() -> None:
        try:
            stdin.write(stdin_data.encode())
            await stdin.drain()
            stdin.close()
        except (BrokenPipeError, ConnectionResetError) as exc:
            log.warning("%s closed its stdin early: %s", argv[0], exc)

    async def pump_out() -> None:
        while line := await stdout.readline():
            on_line(line.decode(errors="replace"))

    async def pump_err() -> None:
        while line := await stderr.readline():
            text = line.decode(errors="replace").rstrip()
            tail.append(text)
            log.info("%s stderr: %s", Path(argv[0]).name, text)

    tasks = [asyncio.create_task(feed()), asyncio.create_task(pump_out()),
             asyncio.create_task(pump_err())]
    waiter = asyncio.create_task(proc.wait())
    try:
        done, _ = await asyncio.wait([waiter, tasks[1]], return_when=asyncio.FIRST_COMPLETED)
        if tasks[1] in done and (error := tasks[1].exception()) is not None:
            raise error
        await waiter
        # the leader exited: give the pipes a moment to drain, then clear the group
        _, pending = await asyncio.wait(tasks, timeout=EOF_GRACE_S)
        if pending:
            log.warning("%s exited but its pipes stayed open (leftover children): killing "
                        "its process group", argv[0])
        kill_group(proc.pid, signal.SIGKILL)
        await asyncio.wait(tasks, timeout=EOF_GRACE_S)
        if tasks[1].done() and not tasks[1].cancelled() and \
                (error := tasks[1].exception()) is not None:
            raise error
        return ProcessResult(returncode=proc.returncode or 0, stderr_tail=tuple(tail))
    finally:
        if proc.returncode is None:
            await asyncio.shield(_terminate(proc))
        else:
            kill_group(proc.pid, signal.SIGKILL)
        for task in [*tasks, waiter]:
            if not task.done():
                task.cancel()
        results = await asyncio.gather(*tasks, waiter, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.debug("%s: helper task ended with %r", argv[0], result)
