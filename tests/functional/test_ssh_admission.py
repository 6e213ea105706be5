"""Connections not yet logged in are capped (all together and per address) and refused
before any key exchange; a session's program gets COLORTERM. Real sockets on loopback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncssh
import pytest

from hivetui.control.sessions import SessionTokens
from hivetui.core.config import load_config
from hivetui.core.errors import ConfigError
from hivetui.ssh.admission import source_of
from hivetui.ssh.server import SSHServer
from tests.ssh_util import key_line, new_key, open_term, running_server, wait_until

_OPTS = {"known_hosts": None, "agent_path": None, "config": None, "username": "op"}


class Raw:
    """A bare TCP connection to the server: it may send the SSH version line, no more."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, *, source: str = "127.0.0.1", banner: bool = False
                   ) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       local_addr=(source, 0))
        if banner:
            writer.write(b"SSH-2.0-probe_1.0\r\n")
            await writer.drain()
        return cls(reader, writer)

    async def first_line(self, timeout: float = 5.0) -> bytes:
        """The server's version line, or b"" if it closed (or reset) the connection first."""
        try:
            return await asyncio.wait_for(self.reader.readline(), timeout)
        except ConnectionResetError:  # closed with our unread banner: a reset
            return b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass  # the server may have reset it first: closed either way


async def _open_admitted(server: SSHServer, n: int, source: str = "127.0.0.1") -> list[Raw]:
    raws = []
    for i in range(n):
        raw = await Raw.open(server.port, source=source, banner=i % 2 == 1)
        assert (await raw.first_line()).startswith(b"SSH-2.0-")  # admitted: banner sent
        raws.append(raw)
    return raws


async def _login_works(server: SSHServer, key: asyncssh.SSHKey) -> None:
    async with asyncssh.connect("127.0.0.1", server.port, client_keys=[key], **_OPTS):
        assert server.gate.count == 0  # a logged-in connection holds no slot


async def test_extra_unauthenticated_connection_refused_before_key_exchange(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    caplog.set_level(logging.INFO, logger="hivetui.ssh")
    async with running_server(tmp_path, key_line(key, "alice"), max_unauthenticated=3,
                              max_unauthenticated_per_source=0) as server:
        raws = await _open_admitted(server, 3)  # silent ones and ones that sent a banner
        assert server.gate.count == 3
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        extra = await Raw.open(server.port, banner=True)
        assert await extra.first_line() == b""  # closed with no version line: no kex
        with pytest.raises((asyncssh.Error, OSError)):
            await asyncio.wait_for(asyncssh.connect("127.0.0.1", server.port,
                                                    client_keys=[key], **_OPTS), 5)
        assert loop.time() - t0 < 2.0  # refused at once, not after the login timeout
        await extra.close()
        assert server.gate.count == 3 and server.gate.refused_total == 2
        refusals = [r.getMessage() for r in caplog.records if "refused connection" in
                    r.getMessage()]
        assert refusals and "127.0.0.1:" in refusals[0]
        assert "ssh.max_unauthenticated = 3" in refusals[0]

        for raw in raws:
            await raw.close()
        await wait_until(lambda: server.gate.count == 0, what="slots freed")
        t = await open_term(server.port, key)  # a real key login gets in again
        await t.ready()
        held = await _open_admitted(server, 3)  # sessions do not take handshake slots
        for raw in held:
            await raw.close()
        t.proc.stdin.write(b"q")
        assert (await t.finish()).exit_status == 0
        await wait_until(lambda: server.gate.count == 0, what="slots freed")


async def test_per_source_limit_leaves_room_for_other_addresses(tmp_path: Path) -> None:
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice"), max_unauthenticated=5,
                              max_unauthenticated_per_source=2) as server:
        mine = await _open_admitted(server, 2)
        extra = await Raw.open(server.port)
        assert await extra.first_line() == b""  # this address has used its share
        # Another host (all of 127/8 is loopback on Linux): still admitted.
        others = await _open_admitted(server, 2, source="127.0.0.2")
        assert server.gate.sources() == {"127.0.0.1": 2, "127.0.0.2": 2}
        for raw in [*mine, *others, extra]:
            await raw.close()
        await wait_until(lambda: server.gate.count == 0, what="slots freed")
        assert server.gate.sources() == {}
        await _login_works(server, key)


async def test_slots_come_back_after_refused_keys_and_login_timeout(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key, stranger = new_key(), new_key()
    async with running_server(tmp_path, key_line(key, "alice"), max_unauthenticated=2,
                              max_unauthenticated_per_source=2,
                              login_timeout_s=0.6) as server:
        for _ in range(4):  # more failures than there are slots
            with pytest.raises(asyncssh.PermissionDenied):
                await asyncssh.connect("127.0.0.1", server.port, client_keys=[stranger],
                                       **_OPTS)
            await wait_until(lambda: server.gate.count == 0, what="slot of a refused key")
        results = await asyncio.gather(*(asyncssh.connect(
            "127.0.0.1", server.port, client_keys=[stranger], **_OPTS) for _ in range(2)),
            return_exceptions=True)
        assert all(isinstance(r, asyncssh.PermissionDenied) for r in results), results
        await wait_until(lambda: server.gate.count == 0, what="slots of refused keys")

        silent = await _open_admitted(server, 2)  # they never log in
        assert server.gate.count == 2
        for raw in silent:  # ssh.login_timeout_s closes them and gives the slots back
            await asyncio.wait_for(raw.reader.read(), 5)  # read to EOF: closed by it
            await raw.close()
        await wait_until(lambda: server.gate.count == 0, what="slots after login timeout")
        await _login_works(server, key)
        await _login_works(server, key)
        assert server.gate.count == 0 and server.gate.sources() == {}
        assert server.gate.refused_total == 0
    assert not [r for r in caplog.records if "holds none" in r.getMessage()]


async def test_session_gets_truecolor_unless_the_client_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLORTERM", "from-the-server")  # the server's own never passes
    key = new_key()
    async with running_server(tmp_path, key_line(key, "alice")) as server:
        plain = await open_term(server.port, key, term="xterm-256color")
        info = await plain.ready()
        assert info["COLORTERM"] == "truecolor" and info["TERM"] == "xterm-256color"
        opted = await open_term(server.port, key, term="screen",
                                env={"COLORTERM": "256color"})
        info = await opted.ready()
        assert info["COLORTERM"] == "256color"  # what the client sent is kept
        assert info["TERM"] == "screen"  # TERM is still the pty request's
        for t in (plain, opted):
            t.proc.stdin.write(b"q")
            assert (await t.finish()).exit_status == 0


def test_source_of_groups_ipv6_by_64_and_unmaps_ipv4() -> None:
    assert source_of("192.0.2.7") == "192.0.2.7"
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:bbbb::9") \
        == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:3::1") != source_of("2001:db8:1:2::1")
    assert source_of("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_of("fe80::1%eth0") == "fe80::/64"


@pytest.mark.parametrize(("text", "message"), [
    ("max_unauthenticated = 0",
     "ssh.max_unauthenticated must be an integer from 1 to 10000, got 0"),
    ("max_unauthenticated_per_source = -1",
     "ssh.max_unauthenticated_per_source must be an integer from 0 to 10000, got -1"),
    ("max_unauthenticated = 3\nmax_unauthenticated_per_source = 4",
     "ssh.max_unauthenticated_per_source must be 0 (no per-address limit) or from 1 to "
     "ssh.max_unauthenticated (3), got 4"),
    ("login_timeout_s = 0", "ssh.login_timeout_s must be a finite number more than 0 and at "
                            "most 600"),
    ("login_timeout_s = 601", "ssh.login_timeout_s must be a finite number more than 0 and "
                              "at most 600"),
])
def test_config_rules(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[ssh]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)


def test_config_keys_reach_the_server(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[ssh]\nlisten = "127.0.0.1:0"\nauthorized_keys = "/nonexistent"\n'
                    "max_unauthenticated = 7\nmax_unauthenticated_per_source = 0\n"
                    "login_timeout_s = 15\n")
    cfg = load_config(path).ssh
    assert (cfg.max_unauthenticated, cfg.max_unauthenticated_per_source,
            cfg.login_timeout_s) == (7, 0, 15.0)
    server = SSHServer.from_config(cfg, state_dir=tmp_path, socket=tmp_path / "s",
                                   tokens=SessionTokens())
    assert (server.gate.limit, server.gate.per_source, server.settings.login_timeout_s) == (
        7, 0, 15.0)
