"""A lean MCP load generator for bench/bus.py: the bridge measured, not a client library.

Python MCP clients cost more CPU per call than the bridge itself (the `mcp` SDK `Client`
~1.0 ms, a JSON-RPC POST through httpx2 ~0.6 ms, the bridge ~0.6 ms), and on a 2-core
machine the load generator shares the cores with the server. Like `wrk` or `h2load` for
a web server, this client keeps its own cost small so the figure is the bridge's: one
keep-alive HTTP/1.1 connection per agent, requests built from a fixed header block, the
response parsed by httptools (the C parser uvicorn itself uses).

The bytes on the wire are the ones the SDK client sends for protocol 2026-07-28 (one
self-contained POST per call, the `_meta` envelope, `Mcp-Method`/`Mcp-Name` headers):
the bridge runs its full MCP path (auth, the SDK's request ladder, tool dispatch) for
every call. Answers are checked: HTTP 200, a JSON-RPC result with the request's id and
``isError`` false, else the call raises.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import httptools

PROTOCOL = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientInfo": {"name": "hivetui-bench", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}}


class CallFailed(RuntimeError):
    pass


class _Response(asyncio.Protocol):
    """Reads responses off one connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(CallFailed(f"connection lost: {exc!r}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))
        self.body = []


class LeanMCP:
    """``async with LeanMCP(url, token) as c: await c.call_tool("send", {...})``."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._head = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                      "Accept: application/json, text/event-stream\r\n"
                      f"MCP-Protocol-Version: {PROTOCOL}\r\nMcp-Method: tools/call\r\n")
        self._proto: _Response | None = None
        self._next_id = 0
        self.calls = 0

    async def __aenter__(self) -> LeanMCP:
        loop = asyncio.get_running_loop()
        _, self._proto = await loop.create_connection(_Response, self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a tool; return its structured content."""
        proto = self._proto
        assert proto is not None and proto.transport is not None, "not connected"
        self._next_id += 1
        rid = self._next_id
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                           "params": {"name": name, "arguments": arguments, "_meta": META}},
                          separators=(",", ":")).encode()
        proto.waiter = asyncio.get_running_loop().create_future()
        proto.transport.write(f"{self._head}Mcp-Name: {name}\r\nContent-Length: {len(body)}"
                              "\r\n\r\n".encode() + body)
        status, raw = await proto.waiter
        self.calls += 1
        if status != 200:
            raise CallFailed(f"{name}: HTTP {status}: {raw[:200]!r}")
        reply = json.loads(raw)
        result = reply.get("result")
        if reply.get("id") != rid or not isinstance(result, dict):
            raise CallFailed(f"{name}: not a JSON-RPC result for id {rid}: {raw[:200]!r}")
        if result.get("isError"):
            raise CallFailed(f"{name}: tool error: {result.get('content')!r}")
        structured = result.get("structuredContent")
        return structured if isinstance(structured, dict) else {}


HANDSHAKE = "2025-11-25"  # the protocol that opens a server-side session (the claude CLI's)


class SessionOpener:
    """Opens MCP sessions one after another on one keep-alive connection, as a flooding
    client would: an ``initialize`` of protocol :data:`HANDSHAKE`, never closed."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"protocolVersion": HANDSHAKE, "capabilities": {},
                                      "clientInfo": {"name": "flood", "version": "0"}}},
                          separators=(",", ":")).encode()
        self._request = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                         f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                         "Accept: application/json, text/event-stream\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self._proto: _Response | None = None

    async def __aenter__(self) -> SessionOpener:
        loop = asyncio.get_running_loop()
        _, self._proto = await loop.create_connection(_Response, self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()

    async def open(self) -> int:
        """One more session; the HTTP status of the answer."""
        proto = self._proto
        assert proto is not None and proto.transport is not None, "not connected"
        proto.waiter = asyncio.get_running_loop().create_future()
        proto.transport.write(self._request)
        status, _ = await proto.waiter
        return status
