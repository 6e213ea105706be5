"""The real OpenSSH client, itself on a PTY (pexpect), against the hivetui SSH server.

The first tests run the stand-in session program; the last runs the real `hivetui attach`
against a real hive node and approves a spawn by keys through `ssh`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pexpect
import pytest

from hivetui.control.sessions import SessionTokens
from hivetui.core.config import HiveConfig
from hivetui.core.operator import Operator
from hivetui.node import HiveNode
from hivetui.node_ssh import start_ssh
from hivetui.ssh.hostkey import HOST_KEY_NAME
from tests.ssh_util import (
    alive,
    emulate,
    fields,
    key_line,
    new_key,
    running_server,
    screen_shows,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    shutil.which("ssh") is None and not os.environ.get("CI"),
    reason="OpenSSH client not installed (CI installs openssh-client)")


def _key_file(tmp: Path, key: asyncssh.SSHKey) -> Path:
    path = tmp / "id_ed25519"
    key.write_private_key(path)
    path.chmod(0o600)
    return path


def _ssh_args(port: int, identity: Path | None, *extra: str) -> list[str]:
    args = ["-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10"]
    if identity is not None:
        args += ["-i", str(identity), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    return [*args, *extra, "operator@127.0.0.1"]


def _spawn(args: list[str], rows: int = 30, cols: int = 100) -> pexpect.spawn:
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("SSH_AUTH_SOCK", None)
    return pexpect.spawn("ssh", args, env=env, dimensions=(rows, cols), timeout=15,
                         encoding="utf-8", codec_errors="replace")


async def _expect(child: pexpect.spawn, pattern: str) -> str:
    await asyncio.to_thread(child.expect, pattern)
    return str(child.before) + str(child.after)


async def test_openssh_client_gets_pty_term_resize_and_identity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # the server's (and the unasked client's) stay out
    key = new_key()
    tokens = SessionTokens()
    async with running_server(tmp_path, key_line(key, "bob", "hivetui-read-only"),
                              tokens) as server:
        child = _spawn(_ssh_args(server.port, _key_file(tmp_path, key)))
        try:
            info = fields(await _expect(child, "READY"))
            assert info["TERM"] == "xterm-256color"
            assert info["SIZE"] == "100x30"
            assert info["CTTY"] == "yes"
            assert info["COLORTERM"] == "truecolor"  # OpenSSH does not send it by default
            assert info["NO_COLOR"] == "<unset>"  # nor NO_COLOR; the server's never passes
            assert tokens.resolve(info["TOKEN"]) == Operator("bob", True)
            pid = int(info["PROC"].split()[0])
            child.setwinsize(43, 132)  # ssh gets SIGWINCH and sends window-change
            await _expect(child, r"WINCH SIZE=132x43")
            child.send("\x1b[A")  # an arrow key arrives as the bytes the terminal sent
            await _expect(child, r"IN=b'\\x1b\[A'")
            child.send("x")
            await asyncio.to_thread(child.expect, pexpect.EOF)
            child.close()
            assert child.exitstatus == 7  # the program's exit status reaches the client
        finally:
            child.close(force=True)
        await wait_until(lambda: not alive(pid), what="child gone")
        assert server.logins == {key.get_fingerprint("sha256"): "bob"}


async def test_openssh_sendenv_colorterm_and_no_color_are_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLORTERM", "256-only")  # the operator opts down on purpose
    monkeypatch.setenv("NO_COLOR", "1")  # ... or asks for no colour at all
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        child = _spawn(_ssh_args(server.port, _key_file(tmp_path, key),
                                 "-o", "SendEnv=COLORTERM", "-o", "SendEnv=NO_COLOR"))
        try:
            info = fields(await _expect(child, "READY"))
            assert info["COLORTERM"] == "256-only" and info["TERM"] == "xterm-256color"
            assert info["NO_COLOR"] == "1"
            child.send("q")
            await asyncio.to_thread(child.expect, pexpect.EOF)
        finally:
            child.close(force=True)


async def test_openssh_refused_when_handshake_slots_are_full(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice"), max_unauthenticated=1,
                              max_unauthenticated_per_source=1) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            assert (await reader.readline()).startswith(b"SSH-2.0-")  # holds the slot
            child = _spawn(_ssh_args(server.port, _key_file(tmp_path, key)))
            out = await _expect(child, pexpect.EOF)
            child.close()
            assert child.exitstatus == 255 and "READY" not in out
            assert "kex_exchange_identification" in out, out  # closed before any kex
        finally:
            writer.close()
        await wait_until(lambda: server.gate.count == 0, what="slot freed")
        child = _spawn(_ssh_args(server.port, _key_file(tmp_path, key)))
        try:
            await _expect(child, "READY")  # the same client gets in once the slot is free
            child.send("q")
            await asyncio.to_thread(child.expect, pexpect.EOF)
        finally:
            child.close(force=True)


async def test_openssh_sees_only_publickey(tmp_path: Path) -> None:
    key, stranger = new_key(), new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        for method in ("password", "keyboard-interactive"):
            child = _spawn(_ssh_args(server.port, None, "-o", f"PreferredAuthentications={method}",
                                     "-o", "PubkeyAuthentication=no",
                                     "-o", "NumberOfPasswordPrompts=1"))
            out = await _expect(child, pexpect.EOF)
            child.close()
            assert "Permission denied (publickey)" in out, out
            assert child.exitstatus == 255
        other = tmp_path / "other"
        other.mkdir()
        child = _spawn(_ssh_args(server.port, _key_file(other, stranger)))
        out = await _expect(child, pexpect.EOF)
        child.close()
        assert "Permission denied (publickey)" in out and child.exitstatus == 255
        assert server.logins == {}


async def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        pub = tmp_path / "state" / "ssh" / (HOST_KEY_NAME + ".pub")
        out = await asyncio.to_thread(subprocess.run, ["ssh-keygen", "-lf", str(pub)],
                                      capture_output=True, text=True, timeout=10, check=True)
        assert out.stdout.split()[1] == server.fingerprint


class _Screen:
    """Everything ssh printed, emulated as the operator's terminal would show it."""

    def __init__(self, child: pexpect.spawn, cols: int, rows: int) -> None:
        self.child, self.cols, self.rows = child, cols, rows
        self.text = ""
        self.eof = False

    def _read(self) -> None:
        try:
            self.text += self.child.read_nonblocking(65536, timeout=0.1)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            self.eof = True

    async def until(self, cond: Callable[[], bool], timeout: float = 30.0,
                    what: str = "condition") -> None:
        """Keep reading (ssh must never block on a full terminal) until ``cond()``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not cond():
            if loop.time() > deadline or self.eof:
                raise AssertionError(f"{'EOF' if self.eof else 'timed out'} waiting for "
                                     f"{what}; got {self.text[-1500:]!r}; screen:\n" +
                                     "\n".join(emulate(self.text, self.cols, self.rows)))
            await asyncio.to_thread(self._read)

    def shows(self, pattern: str) -> bool:
        return screen_shows(emulate(self.text, self.cols, self.rows), pattern)


@pytest.mark.slow
async def test_openssh_client_approves_by_keys_as_the_keys_operator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))  # attach's log file
    key = new_key()
    keys = tmp_path / "authorized_keys"
    keys.write_text(key_line(key, "carol"))
    async with HiveNode(tmp_path / "state", HiveConfig()) as node:
        try:
            hive = node.hive
            await hive.registry.create("boss", role="manager", runtime="scripted:manager",
                                       model="m")
            request = await hive.approvals.request_spawn("boss", "w9", "scripted:echo")
            server = await start_ssh(node, listen="127.0.0.1:0", authorized_keys=keys)
            child = _spawn(_ssh_args(server.port, _key_file(tmp_path, key)), rows=40,
                           cols=120)
            try:
                screen = _Screen(child, 120, 40)
                await screen.until(lambda: screen.shows(r"\bboss\b"), 60, "the fleet")
                child.send(":")
                await screen.until(lambda: screen.shows(r"^\s*:"), 10, "the command line")
                child.send("approvals\r")
                await screen.until(lambda: screen.shows(r"Approvals · 1 pending\s*$"),
                                   what="the approvals screen")
                child.send("a")
                await screen.until(lambda: screen.shows(rf"#{request.id} approved"), 60,
                                   "the approval's toast")
                approval = await hive.approvals.get(request.id)
                assert (approval.state, approval.resolved_by) == ("approved", "carol")
                audit = [(e.actor, e.action, e.target) for e in await hive.audit.query()]
                assert ("carol", "approve", "w9") in audit
                child.send("\x11")  # ctrl+q: the app quits, ssh exits with its status
                await asyncio.to_thread(child.expect, pexpect.EOF, timeout=30)
                child.close()
                assert child.exitstatus == 0
            finally:
                child.close(force=True)
        finally:
            await node.stop_all()
