"""SSH sessions forked from the pre-imported zygote: the real `hivetui attach`, real hive.

The server runs its default session program (no ``child_argv``), so each session's
`hivetui attach` is forked by the zygote onto the session's own PTY. Checked: the
session works as the key's operator; each session is its own process and session leader
with the PTY as controlling terminal; exit statuses reach the client through the
zygote's reports; a dead zygote only costs speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncssh
import pytest

from hivetui.control.server import ControlServer
from hivetui.core.hive import Hive
from hivetui.ssh.ptychild import read_master
from hivetui.ssh.server import SSHServer
from hivetui.ssh.zygote_client import Zygote
from tests.e2e import test_ssh_attach
from tests.ssh_util import (
    Term,
    alive,
    group_members,
    key_line,
    new_key,
    open_term,
    running_server,
)
from tests.ssh_util import wait_until as wait_for

pytestmark = pytest.mark.slow


#: the control server with one agent, "worker", that the SSH attach tests use
control = test_ssh_attach.control


def _stat(pid: int) -> list[str]:
    """state, ppid, pgrp, session, tty_nr of ``pid``."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rfind(")") + 2:].split()[:5]


async def _zygote_pid(server: SSHServer) -> int:
    """The zygote's pid, once it is ready (it starts in the background)."""
    await wait_for(lambda: server._zygote is not None, 60, "the zygote ready")
    zygote = server._zygote
    assert zygote is not None and zygote.alive and zygote.pid is not None
    return zygote.pid


async def test_sessions_are_forked_processes_of_their_own_acting_as_the_key(
        tmp_path: Path, hive: Hive, control: ControlServer) -> None:
    alice, bob = new_key(), new_key()
    text = key_line(alice, "alice") + key_line(bob, "bob", "hivetui-read-only")
    async with running_server(tmp_path, text, control.sessions, audit=hive.audit,
                              socket=control.path, child_argv=None,
                              kill_grace_s=2.0) as server:
        zygote = await _zygote_pid(server)
        ta, tb = await asyncio.gather(open_term(server.port, alice, size=(120, 40)),
                                      open_term(server.port, bob, size=(120, 40)))
        await asyncio.gather(ta.wait_screen("worker", 60), tb.wait_screen("worker", 60))
        pids = [s.pid for s in server.sessions]
        assert len(set(pids)) == 2
        for pid in pids:
            assert pid is not None
            _, ppid, pgrp, sid, tty = _stat(pid)
            # forked by the zygote, leader of its own session, on its own terminal
            assert int(ppid) == zygote and int(pgrp) == int(sid) == pid and int(tty) != 0
        await ta.command("model worker claude-opus-4")
        await wait_for(lambda: hive.registry.get("worker").model_override ==
                       "claude-opus-4", timeout=20, what="model set by alice's keys")
        await tb.command("model worker evil-model")
        await tb.wait_screen("refused", 20)  # bob's token says read-only
        assert hive.registry.get("worker").model_override == "claude-opus-4"

        ta.proc.stdin.write(b"\x11")  # ctrl+q: exit status 0, as the zygote reports it
        assert (await ta.finish(30)).exit_status == 0
        tb.conn.abort()
        await wait_for(lambda: not server.sessions, timeout=20, what="sessions released")
        assert [p for p in pids if p is not None and (alive(p) or group_members(p))] == []
    assert not alive(zygote)
    assert len(control.sessions) == 0


async def _fleet_session(server: SSHServer, key: asyncssh.SSHKey) -> tuple[Term, int]:
    """A session showing the fleet, and its program's pid."""
    term = await open_term(server.port, key)
    await term.wait_screen("worker", 60)
    pid = server.sessions[0].pid
    assert pid is not None
    return term, pid


@asynccontextmanager
async def _preloading(tmp_path: Path, control: ControlServer, key: asyncssh.SSHKey
                      ) -> AsyncIterator[tuple[SSHServer, int]]:
    """The server on its default session program, and its zygote's pid once ready."""
    async with running_server(tmp_path, key_line(key, "alice"), control.sessions,
                              socket=control.path, child_argv=None) as server:
        yield server, await _zygote_pid(server)


async def test_a_killed_session_is_reported_as_killed(
        tmp_path: Path, hive: Hive, control: ControlServer) -> None:
    key = new_key()
    async with _preloading(tmp_path, control, key) as (server, zygote):
        term, pid = await _fleet_session(server, key)
        assert int(_stat(pid)[1]) == zygote
        os.kill(pid, signal.SIGKILL)  # its status comes from the zygote, not a waitpid
        result = await term.finish(30)
        assert result.exit_status == 1
        assert "killed by signal 9" in term.text


async def test_sessions_still_start_when_the_zygote_died(
        tmp_path: Path, hive: Hive, control: ControlServer) -> None:
    key = new_key()
    async with _preloading(tmp_path, control, key) as (server, zygote):
        os.kill(zygote, signal.SIGKILL)
        await wait_for(lambda: server._zygote is not None and not server._zygote.alive,
                       what="the zygote seen gone")
        term, pid = await _fleet_session(server, key)
        assert int(_stat(pid)[1]) == os.getpid()  # a fresh process, the server's own child
        term.proc.stdin.write(b"\x11")
        assert (await term.finish(30)).exit_status == 0


async def test_the_zygote_survives_bad_requests_and_reports_exit_codes(tmp_path: Path
                                                                        ) -> None:
    zygote = Zygote({"PATH": os.environ["PATH"], "PYTHONPATH": str(Path.cwd())})
    await zygote.start()
    try:
        assert zygote._sock is not None
        zygote._sock.send(b"{not json")  # refused with a reason; the zygote goes on
        zygote._sock.send(json.dumps({"id": 7, "args": "attach", "env": {}}).encode())
        await asyncio.sleep(0.2)
        assert zygote.alive
        # a real session program whose core is not there: it says so and exits 1
        child = await zygote.spawn(
            ["attach", "--socket", str(tmp_path / "nobody.sock"), "--state-dir",
             str(tmp_path / "state")], {"PATH": os.environ["PATH"], "TERM": "xterm"}, 80, 24)
        output = b""
        while not child.exited.done():
            await asyncio.sleep(0.05)
            output += read_master(child.master_fd) or b""
        output += read_master(child.master_fd) or b""
        assert child.exited.result() == 1
        assert b"no hive is serving" in output
    finally:
        await zygote.aclose()
    assert not zygote.alive
