"""The real operator TUI over SSH: a hive, its control socket, the SSH server, a PTY client.

The session program is the real `hivetui attach --socket SOCK`; the session token travels
in its environment and the control server decides who the operator is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.control.server import ControlServer
from hivetui.control.sessions import SessionTokens
from hivetui.core.hive import Hive
from tests.ssh_util import (
    alive,
    attach_argv,
    group_members,
    key_line,
    new_key,
    open_term,
    running_server,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
async def control(hive: Hive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[ControlServer]:
    # `hivetui attach` logs under the default state dir: keep that inside the test
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    server = ControlServer(hive, sessions=SessionTokens())
    hive.add_service("control", server.run)
    await server.ready()
    await hive.registry.create("worker", runtime="scripted:echo", model="m")
    yield server


async def test_tui_renders_resizes_and_acts_as_the_keys_operator(
        tmp_path: Path, hive: Hive, control: ControlServer) -> None:
    alice, bob = new_key(), new_key()
    text = key_line(alice, "alice") + key_line(bob, "bob", "hivetui-read-only")
    async with running_server(tmp_path, text, control.sessions, audit=hive.audit,
                              socket=control.path, child_argv=attach_argv(control.path),
                              kill_grace_s=2.0) as server:
        ta = await open_term(server.port, alice, size=(120, 40))
        await ta.expect("worker", timeout=60)  # the fleet renders
        ta.proc.change_terminal_size(150, 50)
        await ta.expect(r"\x1b\[50;", timeout=20)  # it repaints to the new 50th row
        await ta.command("model worker claude-opus-4")
        await wait_until(lambda: hive.registry.get("worker").model_override ==
                         "claude-opus-4", timeout=20, what="model set by keys")

        tb = await open_term(server.port, bob, size=(120, 40))
        await tb.expect("worker", timeout=60)
        await tb.command("model worker evil-model")
        await tb.expect("refused", timeout=20)  # the refusal is shown to bob
        assert hive.registry.get("worker").model_override == "claude-opus-4"

        audit = [(e.actor, e.action) for e in await hive.audit.query()]
        assert ("alice", "set_model") in audit and ("bob", "set_model") not in audit
        assert {a for a, act in audit if act == "ssh_login"} == {"alice", "bob"}

        ta.proc.stdin.write(b"\x11")  # ctrl+q quits; the exit status reaches the client
        assert (await ta.finish(30)).exit_status == 0
        assert "\x1b[?1049l" in ta.text  # the app left the alternate screen itself
        tb.conn.abort()
        await wait_until(lambda: not server.sessions, timeout=20, what="sessions released")
    assert len(control.sessions) == 0


async def test_ten_tui_sessions_then_no_attach_process_remains(
        tmp_path: Path, hive: Hive, control: ControlServer) -> None:
    keys = [new_key() for _ in range(10)]
    text = "".join(key_line(k, f"op{i}") for i, k in enumerate(keys))
    async with running_server(tmp_path, text, control.sessions, socket=control.path,
                              child_argv=attach_argv(control.path),
                              kill_grace_s=2.0,
                              max_unauthenticated_per_source=0) as server:  # 10 at once
        terms = await asyncio.gather(*(open_term(server.port, k) for k in keys))
        await asyncio.gather(*(t.expect("worker", timeout=90) for t in terms))
        pids = [s.pid for s in server.sessions]
        assert len(pids) == 10 and all(p is not None and alive(p) for p in pids)
        for t in terms:
            t.conn.abort()
        await wait_until(lambda: not server.sessions, timeout=30, what="sessions released")
        assert [p for p in pids if p is not None and alive(p)] == []
        assert [m for p in pids if p is not None for m in group_members(p)] == []
