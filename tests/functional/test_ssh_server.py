"""The SSH server with an asyncssh client on loopback and a stand-in child on the PTY."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import asyncssh
import pytest

from hivetui.control.sessions import SessionTokens
from hivetui.core.operator import Operator
from hivetui.ssh.hostkey import HOST_KEY_NAME
from tests.ssh_util import (
    alive,
    fake_child_argv,
    fields,
    group_members,
    key_line,
    new_key,
    open_term,
    running_server,
    wait_until,
)


async def test_pty_session_term_size_resize_input_and_token(tmp_path: Path) -> None:
    key = new_key()
    tokens = SessionTokens()
    os.environ["FAKE_SERVER_SECRET"] = "must-not-leak"
    try:
        async with running_server(tmp_path, key_line(key, "alice"), tokens) as server:
            t = await open_term(server.port, key, term="xterm-256color", size=(100, 30),
                                env={"LANG": "C.UTF-8", "EVIL": "x"})
            info = await t.ready()
            assert info["TERM"] == "xterm-256color"
            assert info["SIZE"] == "100x30"
            assert info["CTTY"] == "yes"  # the PTY is its controlling terminal, foreground
            assert info["SECRET"] == ""  # the server's environment does not leak
            assert info["LANG"] == "C.UTF-8" and info["EVIL"] == ""  # client env: locale only
            assert info["SOCKET"] == str(tmp_path / "state" / "run" / "control.sock")
            assert tokens.resolve(info["TOKEN"]) == Operator("alice", False)
            pid, pgid, sid = map(int, info["PROC"].split())
            assert pid == pgid == sid  # session leader of its own session
            (session,) = server.sessions
            assert session.operator == "alice" and session.pid == pid
            assert server.logins == {key.get_fingerprint("sha256"): "alice"}

            t.proc.change_terminal_size(132, 43)
            await t.expect(r"^WINCH SIZE=132x43\r?$")  # SIGWINCH reached the child
            t.proc.stdin.write(b"hello\x03")
            await t.expect(r"IN=b'hello\\x03'")  # raw bytes, ^C included, pass through
            t.proc.stdin.write(b"x")
            result = await t.finish()
            assert result.exit_status == 7
            t.conn.close()
            await wait_until(lambda: not alive(pid), what="child gone")
            await wait_until(lambda: len(tokens) == 0, what="token revoked")
            assert tokens.resolve(info["TOKEN"]) is None
            assert server.sessions == []
    finally:
        del os.environ["FAKE_SERVER_SECRET"]


async def test_host_key_kept_0600_and_reused(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        first = server.fingerprint
        async with asyncssh.connect("127.0.0.1", server.port, client_keys=[key],
                                    known_hosts=None, agent_path=None, config=None) as conn:
            seen = conn.get_server_host_key()
            assert seen is not None and seen.get_fingerprint("sha256") == first
    path = tmp_path / "state" / "ssh" / HOST_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        assert server.fingerprint == first and first.startswith("SHA256:")


async def test_unknown_key_password_and_kbdint_refused(tmp_path: Path) -> None:
    key, stranger = new_key(), new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        common = {"known_hosts": None, "agent_path": None, "config": None,
                  "username": "alice"}
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", server.port, client_keys=[stranger], **common)
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", server.port, client_keys=None,
                                   password="alice", preferred_auth="password", **common)
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", server.port, client_keys=None,
                                   password="alice", kbdint_auth=True,
                                   preferred_auth="keyboard-interactive", **common)
        assert server.logins == {}


async def test_read_only_option_operator_option_and_config_list(tmp_path: Path) -> None:
    ro, named, listed, rw = new_key(), new_key(), new_key(), new_key()
    text = (key_line(ro, "bob", "hivetui-read-only")
            + key_line(named, "laptop-key", 'hivetui-operator="carol",no-port-forwarding')
            + key_line(listed, "dave")
            + key_line(rw, "erin"))
    tokens = SessionTokens()
    async with running_server(tmp_path, text, tokens, read_only=["dave"]) as server:
        expected = {"bob": True, "carol": False, "dave": True, "erin": False}
        for key, name in ((ro, "bob"), (named, "carol"), (listed, "dave"), (rw, "erin")):
            t = await open_term(server.port, key)
            info = await t.ready()
            assert tokens.resolve(info["TOKEN"]) == Operator(name, expected[name])
            t.conn.close()
            await t.conn.wait_closed()
        assert sorted(server.logins.values()) == ["bob", "carol", "dave", "erin"]


async def test_authorized_keys_reloaded_when_changed(tmp_path: Path) -> None:
    alice, bob = new_key(), new_key()
    async with running_server(tmp_path, key_line(alice, "alice")) as server:
        opts = {"known_hosts": None, "agent_path": None, "config": None}
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", server.port, client_keys=[bob], **opts)
        keys = server.site.authorized_keys
        keys.write_text(keys.read_text() + key_line(bob, "bob"))
        async with asyncssh.connect("127.0.0.1", server.port, client_keys=[bob], **opts):
            pass
        keys.write_text(key_line(bob, "bob"))  # alice removed: refused from now on
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", server.port, client_keys=[alice], **opts)
        keys.unlink()  # no file: nobody
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", server.port, client_keys=[bob], **opts)


async def test_without_pty_or_with_a_command_refused_with_message(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        conn = await asyncssh.connect("127.0.0.1", server.port, client_keys=[key],
                                      known_hosts=None, agent_path=None, config=None)
        result = await conn.run()
        assert result.exit_status == 1
        assert "needs a terminal" in str(result.stderr)
        result = await conn.run("cat /etc/passwd", term_type="xterm")
        assert result.exit_status == 1
        assert "remote commands are not accepted" in str(result.stdout)
        assert server.sessions == []
        conn.close()


async def test_ten_concurrent_sessions_leave_no_process(tmp_path: Path) -> None:
    keys = [new_key() for _ in range(10)]
    text = "".join(key_line(k, f"op{i}") for i, k in enumerate(keys))
    tokens = SessionTokens()
    # Ten handshakes at once from one address: more than ssh.max_unauthenticated_per_source.
    async with running_server(tmp_path, text, tokens, max_unauthenticated_per_source=0,
                              child_argv=fake_child_argv("--grandchild")) as server:
        terms = await asyncio.gather(*(open_term(server.port, k) for k in keys))
        infos = await asyncio.gather(*(t.ready() for t in terms))
        pids = [int(i["PROC"].split()[0]) for i in infos]
        grandchildren = [int(i["GRANDCHILD"]) for i in infos]
        assert len(set(pids)) == 10 and all(alive(p) for p in pids + grandchildren)
        assert {tokens.resolve(i["TOKEN"]) for i in infos} == {
            Operator(f"op{n}", False) for n in range(10)}
        for n, t in enumerate(terms):  # every session answers on its own
            t.proc.stdin.write(f"ping{n}".encode())
        for n, t in enumerate(terms):
            await t.expect(rf"IN=b'ping{n}'")
        for t in terms:  # disconnect, as a closed laptop lid does
            t.conn.abort()
        await wait_until(lambda: not server.sessions, what="sessions released")
        assert [p for p in pids + grandchildren if alive(p)] == []
        assert [m for p in pids for m in group_members(p)] == []
        assert len(tokens) == 0


async def test_a_dying_session_does_not_disturb_others(tmp_path: Path) -> None:
    a, b = new_key(), new_key()
    async with running_server(tmp_path, key_line(a, "alice") + key_line(b, "bob")) as server:
        ta, tb = await open_term(server.port, a), await open_term(server.port, b)
        ia, _ = await ta.ready(), await tb.ready()
        os.kill(int(ia["PROC"].split()[0]), signal.SIGKILL)
        result = await ta.finish()
        assert result.exit_status == 1
        assert "killed by signal 9" in ta.text
        tb.proc.stdin.write(b"still here")
        await tb.expect(r"IN=b'still here'")
        assert [s.operator for s in server.sessions] == ["bob"]
        tb.proc.stdin.write(b"q")
        assert (await tb.finish()).exit_status == 0


async def test_stubborn_child_is_killed_on_disconnect(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice"), kill_grace_s=0.3,
                              child_argv=fake_child_argv("--ignore-hup")) as server:
        t = await open_term(server.port, key)
        pid = int((await t.ready())["PROC"].split()[0])
        t.conn.abort()
        await wait_until(lambda: not server.sessions, what="session released")
        assert not alive(pid) and group_members(pid) == []


async def test_max_sessions_refused_with_message(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice"), max_sessions=2) as server:
        first, second = await open_term(server.port, key), await open_term(server.port, key)
        await first.ready()
        await second.ready()
        third = await open_term(server.port, key)
        result = await third.finish()
        assert result.exit_status == 1
        assert "too many operator sessions (2 of 2 in use" in third.text
        first.proc.stdin.write(b"q")
        await first.finish()
        await wait_until(lambda: len(server.sessions) == 1, what="slot freed")
        fourth = await open_term(server.port, key)
        await fourth.ready()  # a freed slot is usable again


async def test_idle_timeout_closes_session_with_message(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice"), idle_timeout_s=0.8) as server:
        busy, idle = await open_term(server.port, key), await open_term(server.port, key)
        await busy.ready()
        pid = int((await idle.ready())["PROC"].split()[0])
        for _ in range(8):  # typing keeps a session alive past the timeout
            busy.proc.stdin.write(b".")
            await asyncio.sleep(0.15)
        result = await idle.finish()
        assert result.exit_status == 1
        assert "session closed: no input for 0.8 s (ssh.idle_timeout_s)" in idle.text
        assert "\x1b[?1049l" in idle.text  # the terminal was restored before the message
        assert not alive(pid)
        assert busy.proc.exit_status is None
        await busy.expect(r"IN=b'\.'")


async def test_aclose_ends_sessions_and_processes(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        t = await open_term(server.port, key)
        pid = int((await t.ready())["PROC"].split()[0])
    result = await t.finish()
    assert "server is shutting down" in t.text and result.exit_status == 1
    assert not alive(pid)


async def test_output_flood_arrives_whole_with_flow_control(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        t = await open_term(server.port, key)
        await t.ready()
        t.proc.stdin.write(b"f")
        await t.expect(r"^FLOODED\r?$", timeout=30)
        assert t.text.count("y" * 1023) == 4096
        t.proc.stdin.write(b"w")  # input still flows after the flood
        await t.expect(r"IN=b'w'")


def test_fields_parser() -> None:
    assert fields("TERM=x\r\nSIZE=1x2\r\nSIZE=3x4\r\n") == {"TERM": "x", "SIZE": "1x2"}


async def test_cancelled_session_task_kills_its_program(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice"),
                              child_argv=fake_child_argv("--ignore-hup")) as server:
        t = await open_term(server.port, key)
        pid = int((await t.ready())["PROC"].split()[0])
        (session,) = server.session_objects()
        assert session._task is not None
        session._task.cancel()  # as when the loop shuts down under it
        await asyncio.gather(session._task, return_exceptions=True)
        await wait_until(lambda: not alive(pid), timeout=5, what="program killed")


async def test_sessions_end_when_their_key_is_removed_or_turned_read_only(tmp_path: Path
                                                                          ) -> None:
    alice, bob = new_key(), new_key()
    lines = key_line(alice, "alice") + key_line(bob, "bob")
    async with running_server(tmp_path, lines) as server:
        a, b = await open_term(server.port, alice), await open_term(server.port, bob)
        pid_a = int((await a.ready())["PROC"].split()[0])
        await b.ready()
        assert server.end_revoked_sessions() == 0
        keys = server.site.authorized_keys
        keys.write_text(key_line(bob, "bob"))  # alice's key removed
        assert server.end_revoked_sessions() == 1
        await a.finish()
        assert "your key was removed from the authorized keys" in a.text
        assert not alive(pid_a)
        assert b.proc.exit_status is None  # bob's session goes on
        keys.write_text("hivetui-read-only " + key_line(bob, "bob"))  # bob demoted
        assert server.end_revoked_sessions() == 1
        await b.finish()
        assert "role" in b.text
