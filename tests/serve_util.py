"""A real `hivetui serve` subprocess for end-to-end tests: start it, wait until it serves."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

#: the line `hivetui serve` prints once its bridge, control socket and crash watch are up
READY_PREFIX = "  MCP bridge:"


def serve(state: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``hivetui serve`` on ``state``, with no user config and stdout piped (readiness)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(state.parent / "noconfig"),
           **(extra_env or {})}
    # stderr (the core's log) to a file: a pipe nobody reads would block the core
    with open(stderr_file(state), "a", encoding="utf-8") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "hivetui", "serve", "--state-dir", str(state)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True, env=env)


def stderr_file(state: Path) -> Path:
    return state.parent / "serve.stderr"


def stderr_tail(state: Path, chars: int = 3000) -> str:
    try:
        return stderr_file(state).read_text("utf-8", "replace")[-chars:]
    except FileNotFoundError:
        return ""


async def wait_serving(proc: subprocess.Popen[str], state: Path, timeout: float = 60.0
                       ) -> str:
    """The bridge URL, once ``proc`` says it serves; AssertionError if it exits first."""
    assert proc.stdout is not None

    def read_until_ready() -> str:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY_PREFIX):
                return line.split(":", 1)[1].strip()
        return ""

    try:
        url = await asyncio.wait_for(asyncio.to_thread(read_until_ready), timeout)
    except TimeoutError:
        proc.kill()
        raise AssertionError(f"serve did not start within {timeout}s") from None
    if not url:
        proc.wait(10)
        raise AssertionError(f"serve exited with {proc.returncode}: {stderr_tail(state)}")
    return url


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 20.0
         ) -> int:
    """Send ``sig`` and reap; SIGKILL if it does not end in ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode
