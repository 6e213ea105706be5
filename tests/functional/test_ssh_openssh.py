"""The real OpenSSH client, itself on a PTY (pexpect), against the hivetui SSH server."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import asyncssh
import pexpect
import pytest

from hivetui.control.sessions import SessionTokens
from hivetui.core.operator import Operator
from hivetui.ssh.hostkey import HOST_KEY_NAME
from tests.ssh_util import alive, fields, key_line, new_key, running_server, wait_until

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


async def test_openssh_client_gets_pty_term_resize_and_identity(tmp_path: Path) -> None:
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
