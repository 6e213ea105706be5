"""The control socket accepts operators only: a process with the core's uid (or root) is
still refused when it lives in another user namespace or sees another root directory
(what every container does), and when it is gone before it could be checked. Real
sockets, real namespaces (util-linux unshare, bubblewrap), a real hive node."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hivetui.containers.rootfs import system_entries
from hivetui.control.client import ControlClient
from hivetui.control.peer import operator_uid
from hivetui.core.config import HiveConfig
from hivetui.core.errors import ControlError
from hivetui.node import HiveNode

#: connect to argv[1], say hello, print the first answer line
CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"id": 1, "op": "hello", "args": {}}\\n')
except BrokenPipeError:
    pass  # a refusal comes at once, and the socket is closed
print(s.makefile("rb").readline().decode().strip())
"""
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


async def _answer(argv: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _refused(answer: str) -> bool:
    reply = json.loads(answer)
    return reply["ok"] is False and "operator account only" in reply["error"]["message"]


async def test_an_operator_on_the_host_is_accepted(tmp_path: Path) -> None:
    async with HiveNode(tmp_path / "s", HiveConfig(), containers=False) as node, \
            await ControlClient.connect(node.paths.control_socket) as api:
        assert await api.agents() == []


async def test_the_cores_uid_in_another_user_namespace_is_refused(tmp_path: Path) -> None:
    """What a non-root core's container is: its root is the core's uid outside."""
    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare is not installed")
    async with HiveNode(tmp_path / "s", HiveConfig(), containers=False) as node:
        answer = await _answer(["unshare", "--user", "--map-root-user", "--", PYTHON, "-c",
                                CONNECT, str(node.paths.control_socket)])
    assert _refused(answer) and "another user namespace" in answer, answer


@pytest.mark.skipif(os.geteuid() != 0, reason="a root peer needs root")
async def test_root_with_another_root_directory_is_refused(tmp_path: Path) -> None:
    """What a nixos container without private users is: real root, its own root dir."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    async with HiveNode(tmp_path / "s", HiveConfig(), containers=False) as node:
        argv = ["bwrap"]
        for entry in system_entries():
            argv += ["--symlink", entry.target, entry.path] if entry.kind == "symlink" \
                else ["--ro-bind", entry.path, entry.path]
        argv += ["--ro-bind", str(node.paths.run), "/hive", "--proc", "/proc",
                 "--dev", "/dev", "--", PYTHON, "-c", CONNECT, "/hive/control.sock"]
        answer = await _answer(argv)
    assert _refused(answer) and "another root directory" in answer, answer


def test_a_peer_gone_before_the_check_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "ctl.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(1)
        subprocess.run([sys.executable, "-c",
                        f"import socket; socket.socket(socket.AF_UNIX).connect({path!r})"],
                       check=True)  # connected, then exited: its pid may be anyone's now
        conn, _ = server.accept()
        with conn, pytest.raises(ControlError, match="went away"):
            operator_uid(conn)


def test_this_process_is_an_operator() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert operator_uid(ours) == os.getuid()
