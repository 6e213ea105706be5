"""SSH key → session token → control socket → audit: identity and role end to end.

The session program is the stand-in child in ``--shell`` mode running the real
``hivetui ctl`` against the real control server; ctl, like ``attach``, finds the session
token in its environment. Nothing the client says about itself decides who it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.control.server import ControlServer
from hivetui.control.sessions import SessionTokens
from hivetui.core.errors import SSHError
from hivetui.core.hive import Hive
from tests.ssh_util import (
    alive,
    fake_child_argv,
    key_line,
    new_key,
    new_server,
    open_term,
    running_server,
)


@pytest.fixture
async def control(hive: Hive) -> AsyncIterator[ControlServer]:
    server = ControlServer(hive, sessions=SessionTokens())
    hive.add_service("control", server.run)
    await server.ready()
    yield server


async def test_actions_recorded_under_the_keys_operator_and_read_only_refused(
        tmp_path: Path, hive: Hive, control: ControlServer) -> None:
    await hive.registry.create("worker", runtime="scripted:echo", model="m")
    alice, bob = new_key(), new_key()
    text = key_line(alice, "alice") + key_line(bob, "bob", "hivetui-read-only")
    async with running_server(tmp_path, text, control.sessions, audit=hive.audit,
                              socket=control.path,
                              child_argv=fake_child_argv("--shell")) as server:
        ta, tb = await open_term(server.port, alice), await open_term(server.port, bob)
        await ta.ready()
        await tb.ready()

        ta.proc.stdin.write(b"ctl model worker claude-opus-4\r")
        await ta.expect(r"CTL rc=0 ", timeout=60)
        tb.proc.stdin.write(b"ctl approve 1\r")
        m = await tb.expect(r"CTL rc=1 (.*)\r$", timeout=60)
        assert "Permission denied: operator 'bob' is read-only: approve #1 is refused" in \
            m.group(1)
        tb.proc.stdin.write(b"ctl model worker evil-model\r")
        m = await tb.expect(r"CTL rc=1 (.*)\r$", timeout=60)
        assert "'bob' is read-only" in m.group(1)
        tb.proc.stdin.write(b"ctl agents\r")  # a read-only operator still sees everything
        m = await tb.expect(r"CTL rc=0 (.*)\r$", timeout=60)
        assert "worker" in m.group(1)

        audit = await hive.audit.query()
        assert [(e.actor, e.action, e.target) for e in audit if e.action == "set_model"] == [
            ("alice", "set_model", "worker")]
        logins = {e.actor: e.detail for e in audit if e.action == "ssh_login"}
        assert logins == {
            "alice": f"key={alice.get_fingerprint('sha256')} read_only=False",
            "bob": f"key={bob.get_fingerprint('sha256')} read_only=True"}
        assert hive.registry.get("worker").model_override == "claude-opus-4"
        for t in (ta, tb):
            t.proc.stdin.write(b"exit\r")
            assert (await t.finish()).exit_status == 0
    assert len(control.sessions) == 0  # every session's token was revoked


async def test_ssh_as_a_hive_service_ends_sessions_when_the_hive_closes(tmp_path: Path) -> None:
    key = new_key()
    tokens = SessionTokens()
    hive = Hive(tmp_path / "hive")
    await hive.__aenter__()
    try:
        server = new_server(tmp_path, key_line(key, "alice"), tokens, hive.audit)
        hive.add_service("ssh", server.run)
        await server.ready()
        t = await open_term(server.port, key)
        pid = int((await t.ready())["PROC"].split()[0])
        assert "ssh" in hive.services()
    finally:
        await hive.aclose()
    result = await t.finish()
    assert result.exit_status == 1 and "shutting down" in t.text
    assert not alive(pid) and len(tokens) == 0


async def test_ready_raises_why_the_service_could_not_start(tmp_path: Path) -> None:
    key = new_key()
    (tmp_path / "a").mkdir()
    async with running_server(tmp_path / "a", key_line(key, "alice")) as first:
        hive = Hive(tmp_path / "hive")
        await hive.__aenter__()
        try:
            (tmp_path / "b").mkdir()
            server = new_server(tmp_path / "b", key_line(key, "alice"), port=first.port)
            hive.add_service("ssh", server.run)
            with pytest.raises(SSHError, match=f"cannot listen for ssh on 127.0.0.1:{first.port}"):
                await server.ready()
        finally:
            await hive.aclose()
