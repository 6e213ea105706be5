"""Helpers for the SSH tests: keys, a server on loopback, a PTY client that can `expect`."""

from __future__ import annotations

import asyncio
import codecs
import inspect
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncssh
import pyte

from hivetui.control.sessions import SessionTokens
from hivetui.core.config import SSHConfig
from hivetui.ssh.server import SSHServer, SSHSite

FAKE_CHILD = Path(__file__).parent / "fakes" / "fake_attach_child.py"


def attach_argv(socket: Path) -> list[str]:
    """The real session program, as the server starts it by default."""
    return [sys.executable, "-m", "hivetui", "attach", "--socket", str(socket)]


def fake_child_argv(*flags: str) -> list[str]:
    return [sys.executable, str(FAKE_CHILD), *flags]


def new_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def key_line(key: asyncssh.SSHKey, comment: str, options: str = "") -> str:
    public = key.export_public_key("openssh").decode().split()
    return " ".join(p for p in (options, public[0], public[1], comment) if p) + "\n"


def new_server(tmp: Path, keys_text: str, tokens: SessionTokens | None = None,
               audit: Any = None, **kw: Any) -> SSHServer:
    """An SSHServer on loopback; ``kw`` are [ssh] config keys or :class:`SSHSite` fields."""
    keys = tmp / "authorized_keys"
    keys.write_text(keys_text)
    rules = {k: kw.pop(k) for k in list(kw) if k in SSHConfig.model_fields}
    kw.setdefault("child_argv", fake_child_argv())
    kw.setdefault("kill_grace_s", 0.5)
    kw.setdefault("socket", tmp / "state" / "run" / "control.sock")
    site = SSHSite(authorized_keys=keys, state_dir=tmp / "state", **kw)
    return SSHServer(site, SessionTokens() if tokens is None else tokens, audit,
                     SSHConfig(**rules))


@asynccontextmanager
async def running_server(tmp: Path, keys_text: str, tokens: SessionTokens | None = None,
                         audit: Any = None, **kw: Any) -> AsyncIterator[SSHServer]:
    async with new_server(tmp, keys_text, tokens, audit, **kw) as s:
        yield s


def fields(text: str) -> dict[str, str]:
    """KEY=VALUE lines of the stand-in child's report (the first of each key)."""
    found: dict[str, str] = {}
    for m in re.finditer(r"^([A-Z_]+)=(.*?)\r?$", text, re.M):
        found.setdefault(m.group(1), m.group(2))
    return found


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode()
    except OSError:
        return False
    return raw[raw.rfind(")") + 2] not in "ZX"


def group_members(pgid: int) -> list[int]:
    """Live processes in process group or session ``pgid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read().decode()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2:].split()
        if rest[0] not in "ZX" and pgid in (int(rest[2]), int(rest[3])):
            found.append(int(name))
    return found


async def wait_until(cond: Any, timeout: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def emulate(text: str, cols: int, rows: int) -> list[str]:
    """The lines a ``cols``x``rows`` terminal shows after ``text`` (pyte)."""
    scr = pyte.Screen(cols, rows)
    pyte.Stream(scr).feed(text)
    return [line.rstrip() for line in scr.display]


def screen_shows(lines: list[str], pattern: str) -> bool:
    rx = re.compile(pattern)
    return any(rx.search(line) for line in lines)


class Term:
    """The client side of a PTY session: accumulate output, wait for patterns."""

    def __init__(self, conn: asyncssh.SSHClientConnection,
                 proc: asyncssh.SSHClientProcess[bytes], size: tuple[int, int] = (100, 30)
                 ) -> None:
        self.conn = conn
        self.proc = proc
        self.size = size
        self.text = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pos = 0

    def _feed(self, data: bytes) -> None:
        self.text += self._decoder.decode(data)

    async def expect(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Wait for ``pattern`` after the previous match (a multiline regex)."""
        rx = re.compile(pattern, re.M)

        async def _loop() -> re.Match[str]:
            start = self._pos
            while True:
                m = rx.search(self.text, start)
                if m:
                    self._pos = m.end()
                    return m
                start = max(self._pos, len(self.text) - 4096)  # a match may span chunks
                chunk = await self.proc.stdout.read(65536)
                if not chunk:
                    raise AssertionError(f"EOF before {pattern!r}; got {self.text[-2000:]!r}")
                self._feed(chunk)

        try:
            return await asyncio.wait_for(_loop(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {pattern!r}; got "
                                 f"{self.text[-2000:]!r}") from None

    async def _read_some(self, wait: float) -> None:
        try:
            chunk = await asyncio.wait_for(self.proc.stdout.read(65536), wait)
        except TimeoutError:
            return
        if not chunk:
            raise AssertionError(f"EOF from the session; got {self.text[-2000:]!r}")
        self._feed(chunk)

    async def pump(self, cond: Any, timeout: float = 15.0, what: str = "condition") -> None:
        """Keep reading the session's output (so the program never blocks on a full
        terminal) until ``cond()`` (a bool, or an awaitable of one) is true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ok = cond()
            if inspect.isawaitable(ok):
                ok = await ok
            if ok:
                return
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen:\n"
                                     + "\n".join(self.screen()))
            await self._read_some(0.1)

    async def drain(self, seconds: float) -> None:
        """Read the session's output for ``seconds`` (let it react, or not)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            await self._read_some(min(0.1, max(0.0, deadline - loop.time())))

    def screen(self) -> list[str]:
        """What a terminal of the session's size shows now (every byte so far, emulated)."""
        return emulate(self.text, *self.size)

    def shows(self, pattern: str) -> bool:
        """True if the emulated screen has a line matching ``pattern`` (a regex)."""
        return screen_shows(self.screen(), pattern)

    async def wait_screen(self, pattern: str, timeout: float = 20.0) -> None:
        await self.pump(lambda: self.shows(pattern), timeout, f"{pattern!r} on screen")

    async def command(self, text: str) -> None:
        """Type a `:` command line of the operator TUI."""
        self.proc.stdin.write(b":")
        await self.pump(lambda: self.shows(r"^\s*:"), 10, "the command line")
        self.proc.stdin.write(text.encode() + b"\r")

    async def ready(self) -> dict[str, str]:
        await self.expect(r"^READY\r?$")
        return fields(self.text)

    async def finish(self, timeout: float = 15.0) -> asyncssh.SSHCompletedProcess:
        result = await asyncio.wait_for(self.proc.wait(), timeout)
        rest = result.stdout
        if isinstance(rest, bytes):
            self._feed(rest)
        return result


async def open_term(port: int, key: asyncssh.SSHKey, *, term: str | None = "xterm-256color",
                    size: tuple[int, int] = (100, 30), command: str | None = None,
                    env: dict[str, str] | None = None) -> Term:
    conn = await asyncssh.connect("127.0.0.1", port, client_keys=[key], known_hosts=None,
                                  username="anyone", agent_path=None, config=None)
    kwargs: dict[str, Any] = {"encoding": None}
    if term is not None:
        kwargs.update(term_type=term, term_size=size)
    if env:
        kwargs["env"] = env
    proc = await conn.create_process(command, **kwargs)
    return Term(conn, proc, size)
