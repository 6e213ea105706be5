"""The egress proxy on its own (real unix and TCP sockets, no container): what it lets
through, what it refuses and how it says so, and how refusals are counted and logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.core import egress
from hivetui.core.egress import EgressProxy
from hivetui.core.errors import ContainerError


class Recorded:
    def __init__(self) -> None:
        self.samples: list[tuple[str, dict[str, float]]] = []

    def __call__(self, agent: str, values: dict[str, float]) -> None:
        self.samples.append((agent, values))


@pytest.fixture
async def origin() -> AsyncIterator[int]:
    """A tiny HTTP origin on the host's loopback: answers with the request line it got."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0]
        body = line + b" | " + (b"close" if b"Connection: close" in head else b"keep")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[tuple[EgressProxy, Recorded, Path]]:
    recorded = Recorded()
    p = EgressProxy(lambda name: tmp_path / f"{name}.sock", recorded)
    yield p, recorded, tmp_path
    p.forget("w1")


async def _ask(path: Path, request: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


async def test_allowed_targets_pass_both_forms(proxy: tuple[EgressProxy, Recorded, Path],
                                               origin: int) -> None:
    p, _, tmp = proxy
    p.allow("w1", (f"127.0.0.1:{origin}",))
    await p.listen("w1")
    plain = await _ask(tmp / "w1.sock", f"GET http://127.0.0.1:{origin}/a?b=1 HTTP/1.1\r\n"
                       f"Host: 127.0.0.1\r\nProxy-Connection: keep-alive\r\n\r\n".encode())
    assert plain.endswith(b"GET /a?b=1 HTTP/1.1 | close"), plain
    reader, writer = await asyncio.open_unix_connection(str(tmp / "w1.sock"))
    writer.write(f"CONNECT 127.0.0.1:{origin} HTTP/1.1\r\n\r\n".encode())
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 200 Connection established\r\n\r\n"
    writer.write(b"GET /tunnelled HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.read()).endswith(b"GET /tunnelled HTTP/1.1 | keep")
    writer.close()
    assert p.denied["w1"] == 0


async def test_anything_else_is_refused_counted_and_logged(
        proxy: tuple[EgressProxy, Recorded, Path], origin: int,
        caplog: pytest.LogCaptureFixture) -> None:
    p, recorded, tmp = proxy
    p.allow("w1", ("github.com:443",))
    await p.listen("w1")
    sock = tmp / "w1.sock"
    caplog.set_level(logging.WARNING, "hivetui.core.egress")
    refused = await _ask(sock, f"CONNECT 127.0.0.1:{origin} HTTP/1.1\r\n\r\n".encode())
    assert refused.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert refused.endswith(f"hive egress proxy: 127.0.0.1:{origin} is not allowed for agent "
                            "w1; its settings.toml network.allow lets through only: "
                            "github.com:443\n".encode())
    # the same host on another port, and a name that differs only in case, are not it
    assert b"403" in await _ask(sock, b"CONNECT github.com:80 HTTP/1.1\r\n\r\n")
    assert b"403" in await _ask(sock, b"GET http://github.com/ HTTP/1.1\r\n\r\n")
    assert p.denied["w1"] == 3
    p.flush()
    assert recorded.samples == [("w1", {"egress_denied": 3})]
    assert [r.getMessage() for r in caplog.records].count(
        "egress proxy: denied w1 to github.com:80 (not in its network.allow)") == 2


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /relative HTTP/1.1\r\n\r\n", b"400"),
    (b"GET https://github.com/ HTTP/1.1\r\n\r\n", b"400"),
    (b"CONNECT github.com HTTP/1.1\r\n\r\n", b"400"),
    (b"CONNECT [::1 HTTP/1.1\r\n\r\n", b"400"),
    (b"NONSENSE\r\n\r\n", b"400"),
    (b"GET http://a/ HTTP/1.1\r\n" + b"X: " + b"y" * 20000 + b"\r\n\r\n", b"431"),
])
async def test_bad_requests_get_a_clear_answer(proxy: tuple[EgressProxy, Recorded, Path],
                                               request_bytes: bytes, status: bytes) -> None:
    p, _, tmp = proxy
    p.allow("w1", ())
    await p.listen("w1")
    answer = await _ask(tmp / "w1.sock", request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer
    assert b"hive egress proxy: " in answer
    assert p.denied["w1"] == 0  # malformed is not a denied destination


async def test_an_unreachable_allowed_target_is_a_502(
        proxy: tuple[EgressProxy, Recorded, Path]) -> None:
    p, _, tmp = proxy
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    p.allow("w1", (f"127.0.0.1:{port}",))
    await p.listen("w1")
    answer = await _ask(tmp / "w1.sock", f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway"), answer
    assert f"cannot reach 127.0.0.1:{port}".encode() in answer


async def test_a_refusal_flood_logs_a_bounded_number_of_lines(
        proxy: tuple[EgressProxy, Recorded, Path], caplog: pytest.LogCaptureFixture) -> None:
    p, _, tmp = proxy
    p.allow("w1", ())
    await p.listen("w1")
    caplog.set_level(logging.WARNING, "hivetui.core.egress")
    for _ in range(egress.LOG_PER_MINUTE * 3):
        await _ask(tmp / "w1.sock", b"CONNECT example.org:443 HTTP/1.1\r\n\r\n")
    assert p.denied["w1"] == egress.LOG_PER_MINUTE * 3
    assert len(caplog.records) == egress.LOG_PER_MINUTE


async def test_a_socket_replaced_under_it_is_served_again(
        proxy: tuple[EgressProxy, Recorded, Path]) -> None:
    """A core that starts again (or anything that removed the socket) listens anew."""
    p, _, tmp = proxy
    p.allow("w1", ())
    await p.listen("w1")
    (tmp / "w1.sock").unlink()
    await p.listen("w1")
    assert b"403" in await _ask(tmp / "w1.sock", b"CONNECT a.b:1 HTTP/1.1\r\n\r\n")


async def test_a_socket_path_too_long_is_refused_with_the_rule(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    p = EgressProxy(lambda name: deep / f"{name}.sock", Recorded())
    with pytest.raises(ContainerError, match="at most 107 bytes"):
        await p.listen("w1")
