"""A real `hivetui serve` subprocess for end-to-end tests: start it, wait until it serves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: the line `hivetui serve` prints once its bridge, control socket and crash watch are up
READY_PREFIX = "  MCP bridge:"


def serve(state: Path, extra_env: dict[str, str] | None = None,
          flags: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """``hivetui [FLAGS] serve`` on ``state``, with no user config and stdout piped
    (readiness)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(state.parent / "noconfig"),
           **(extra_env or {})}
    # stderr (the core's log) to a file: a pipe nobody reads would block the core
    with open(stderr_file(state), "a", encoding="utf-8") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "hivetui", *flags, "serve", "--state-dir", str(state)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True, env=env)


def stderr_file(state: Path) -> Path:
    return state.parent / "serve.stderr"


def stderr_tail(state: Path, chars: int = 3000) -> str:
    """The last ``chars`` characters of the serve output (0: all of it)."""
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


class ForkServer:
    """`hivetui serve` children of ``tests/fork_serve.py`` (real cores, started in a
    fraction of a second): ``pid = fs.serve(state)``, ``await fs.wait_serving(pid, state)``,
    ``fs.kill9(pid)``."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fork_serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
        self._offsets: dict[int, int] = {}

    def _ask(self, line: str) -> str:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        return self._proc.stdout.readline().strip()

    def serve(self, state: Path, env: dict[str, str] | None = None) -> int:
        out = stderr_file(state)
        offset = out.stat().st_size if out.exists() else 0
        env = {"XDG_CONFIG_HOME": str(state.parent / "noconfig"), **(env or {})}
        pid = int(self._ask(f"serve {state} {out} {json.dumps(env)}"))
        self._offsets[pid] = offset
        return pid

    async def wait_serving(self, pid: int, state: Path, timeout: float = 60.0) -> str:
        """The bridge URL once child ``pid`` serves; AssertionError if it ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = stderr_tail(state, 0)[self._offsets[pid]:]
            for line in text.splitlines():
                if line.startswith(READY_PREFIX):
                    return line.split(":", 1)[1].strip()
            if not alive(pid):
                status = self.reap(pid)
                raise AssertionError(f"serve ended (wait status {status}): {text[-3000:]}")
            await asyncio.sleep(0.02)
        raise AssertionError(f"serve did not start within {timeout}s")

    def kill9(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        self.reap(pid)

    def reap(self, pid: int) -> int:
        return int(self._ask(f"reap {pid}"))

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
