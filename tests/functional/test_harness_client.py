"""HiveClient against the real bridge: typed results and how failures are classified."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
import uvicorn
from mcp.server import MCPServer, _streamable_http_modern
from mcp.shared.inbound import encode_header_value as sdk_encode_header_value
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hivetui.bridge.server import Bridge
from hivetui.core.errors import HarnessError
from hivetui.core.hive import Hive
from hivetui.harness.client import BridgeUnreachable, HiveClient, TurnReport
from hivetui.harness.wire import PROTOCOL_VERSION, encode_header_value


def _token(hive: Hive, name: str) -> str:
    return (hive.paths.agent_run(name) / "token").read_text().strip()


async def test_typed_calls_and_refusals(hive: Hive, bridge: Bridge) -> None:
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    async with HiveClient(bridge.harness_url, _token(hive, "ann")) as ann, \
            HiveClient(bridge.harness_url, _token(hive, "boss")) as boss:
        sent = await ann.send("boss", "hi")
        assert sent["depth"] == 1
        [m] = await boss.recv(wait_s=0, max=5)
        assert (m.sender, m.recipient, m.kind, m.body) == ("ann", "boss", "peer", "hi")
        assert {a["name"] for a in await boss.list_agents()} == {"boss", "ann"}
        await ann.set_status("in_turn", "working")
        assert hive.registry.get("ann").status == "in_turn"
        await ann.report_turn(TurnReport(outcome="ok", duration_s=1.5,
                                         tool_calls={"mcp__hive__send": 1},
                                         sent={"manager": 1}, received={"operator": 1}))
        settings = await ann.get_settings()
        assert settings["model"] == "m" and settings["model_override"] is None
        # refusals are HarnessError, never "unreachable" (which the loop would retry)
        with pytest.raises(HarnessError, match="manager only") as info:
            await ann.list_agents()
        assert not isinstance(info.value, BridgeUnreachable)
        with pytest.raises(HarnessError, match="outcome must be one of") as info:
            await ann.report_turn(TurnReport(outcome="weird", duration_s=1))  # type: ignore[arg-type]
        assert not isinstance(info.value, BridgeUnreachable)
        with pytest.raises(HarnessError, match="Unknown tool"):
            await ann.call("no_such_tool")


async def test_unreachable_and_closed(hive: Hive, bridge: Bridge) -> None:
    with pytest.raises(BridgeUnreachable, match="ConnectError"):
        async with HiveClient("http://127.0.0.1:9/mcp", "t"):
            pass
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    client = HiveClient(bridge.harness_url, _token(hive, "ann"))
    await client.connect()
    await client.aclose()
    with pytest.raises(BridgeUnreachable, match="no session"):
        await client.recv()
    with pytest.raises(HarnessError, match="must be an http"):
        HiveClient("unix:/x", "t")


# --- the wire: SSE answers, JSON-RPC errors, HTTP failures, version refusal -----------------
# Beside the real bridge: the real mcp ``MCPServer`` in SSE mode, and canned answers from a
# plain Starlette app on loopback for what the bridge cannot be made to say.


class _QuietUvicorn(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # pytest owns the signals


@asynccontextmanager
async def _serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yields its ``/mcp`` URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = _QuietUvicorn(uvicorn.Config(app, log_config=None, access_log=False,
                                          lifespan="off", timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    finally:
        server.should_exit = True
        await task
        sock.close()


Answer = Callable[[dict[str, Any]], Awaitable[Response]]


def _canned(answer: Answer, seen: list[tuple[dict[str, str], dict[str, Any]]]) -> Starlette:
    async def mcp(request: Request) -> Response:
        body = json.loads(await request.body())
        seen.append((dict(request.headers), body))
        return await answer(body)
    return Starlette(routes=[Route("/mcp", mcp, methods=["POST"])])


def _reply(body: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": body["id"], "result": result}


DISCOVERED = {"supportedVersions": [PROTOCOL_VERSION], "capabilities": {"tools": {}}}


def _tool_result(data: dict[str, Any]) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": json.dumps(data)}], "isError": False,
            "structuredContent": data}


async def test_sse_answer_from_the_mcp_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real SDK server commits to SSE once a handler outlives its ping interval."""
    monkeypatch.setattr(_streamable_http_modern, "_SSE_PING_INTERVAL", 0.05)
    server = MCPServer("sse-test")

    @server.tool()
    async def slow(delay: float) -> dict[str, float]:
        await asyncio.sleep(delay)
        return {"slept": delay}

    inner = server.streamable_http_app(json_response=False)
    kinds: list[str] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        async def spy(message: Message) -> None:
            if message["type"] == "http.response.start":
                kinds.append(dict(message["headers"]).get(b"content-type", b"").decode())
            await send(message)
        await inner(scope, receive, spy)

    async with server.session_manager.run(), _serve(recording) as url, \
            HiveClient(url, "any-token") as client:
        assert await client.call("slow", {"delay": 0.3}) == {"slept": 0.3}
        assert await client.call("slow", {"delay": 0}) == {"slept": 0}
    assert kinds == ["application/json", "text/event-stream", "application/json"]


async def test_sse_frames_notifications_and_pings() -> None:
    seen: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def answer(body: dict[str, Any]) -> Response:
        if body["method"] == "server/discover":
            return JSONResponse(_reply(body, DISCOVERED))
        note = {"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": 1, "progress": 0.5}}
        frames = [": ping", f"event: message\r\ndata: {json.dumps(note)}",
                  "event: other\r\ndata: {\"ignored\": true}",
                  f"event: message\r\ndata: {json.dumps(_reply(body, _tool_result({'n': 7})))}"]
        return Response("".join(f + "\r\n\r\n" for f in frames),
                        media_type="text/event-stream")

    async with _serve(_canned(answer, seen)) as url, HiveClient(url, "tok") as client:
        assert await client.send("a1", "hi") == {"n": 7}
        assert await client.get_settings() == {"n": 7}
    (h0, discover), (h1, first), (_, second) = seen
    assert [discover["id"], first["id"], second["id"]] == [1, 2, 3]  # ids increase per client
    assert (h0["mcp-method"], h0.get("mcp-name")) == ("server/discover", None)
    assert (h1["mcp-method"], h1["mcp-name"], h1["mcp-protocol-version"]) == (
        "tools/call", "send", PROTOCOL_VERSION)
    assert h1["authorization"] == "Bearer tok"
    assert h1["accept"] == "application/json, text/event-stream"
    sent = first["params"]["arguments"]
    assert sent.pop("idempotency_key") and sent == {"to": "a1", "body": "hi"}
    meta = first["params"]["_meta"]
    assert meta["io.modelcontextprotocol/protocolVersion"] == PROTOCOL_VERSION
    assert meta["io.modelcontextprotocol/clientInfo"]["name"] == "hivetui-harness"
    assert meta["io.modelcontextprotocol/clientCapabilities"] == {}


async def test_jsonrpc_errors_are_refusals_http_failures_unreachable() -> None:
    async def answer(body: dict[str, Any]) -> Response:
        if body["method"] == "server/discover":
            return JSONResponse(_reply(body, DISCOVERED))
        tool = body["params"]["name"]
        if tool == "bad_params":  # how the SDK answers a protocol-level error: 400 + error
            return JSONResponse({"jsonrpc": "2.0", "id": body["id"], "error": {
                "code": -32602, "message": "Invalid params: nope"}}, status_code=400)
        if tool == "internal":
            return JSONResponse({"jsonrpc": "2.0", "id": body["id"], "error": {
                "code": -32603, "message": "Internal error"}})
        if tool == "proxy_down":
            return Response("Bad Gateway", status_code=502, media_type="text/plain")
        if tool == "gone":
            return Response("Not Found", status_code=404, media_type="text/plain")
        if tool == "html":
            return Response("<html/>", media_type="text/html")
        if tool == "other_id":
            return JSONResponse({"jsonrpc": "2.0", "id": 999, "result": {}})
        if tool == "hang":
            await asyncio.sleep(1)
        return JSONResponse(_reply(body, _tool_result({"tool": tool})))

    async with _serve(_canned(answer, [])) as url, HiveClient(url, "tok") as client:
        for tool, message in [("bad_params", "Invalid params: nope"),
                              ("internal", "Internal error")]:
            with pytest.raises(HarnessError, match=f"bridge refused {tool}: {message}") as info:
                await client.call(tool)
            assert not isinstance(info.value, BridgeUnreachable)
        for tool, reason in [("proxy_down", "HTTP 502"), ("gone", "HTTP 404"),
                             ("html", "unexpected content type 'text/html'"),
                             ("other_id", "response to request 999"),
                             ("hang", "no answer within 0.3s")]:
            with pytest.raises(BridgeUnreachable, match=reason):
                await client.call(tool, timeout_s=0.3)
        assert await client.send("x", "still usable after failures") == {"tool": "send"}


@pytest.mark.parametrize("discover", ["other_versions", "unsupported_error", "no_discover"])
async def test_discover_refusing_our_version_is_a_clear_error(discover: str) -> None:
    async def answer(body: dict[str, Any]) -> Response:
        if discover == "other_versions":
            return JSONResponse(_reply(body, {"supportedVersions": ["2025-11-25"]}))
        if discover == "unsupported_error":
            return JSONResponse({"jsonrpc": "2.0", "id": body["id"], "error": {
                "code": -32022, "message": "Unsupported protocol version",
                "data": {"supported": ["2027-01-01"], "requested": PROTOCOL_VERSION}}},
                status_code=400)
        return JSONResponse({"jsonrpc": "2.0", "id": body["id"], "error": {
            "code": -32601, "message": "Method not found"}}, status_code=404)

    async with _serve(_canned(answer, [])) as url:
        client = HiveClient(url, "tok")
        with pytest.raises(HarnessError) as info:
            await client.connect()
        assert not isinstance(info.value, BridgeUnreachable)
        assert PROTOCOL_VERSION in str(info.value)
        if discover != "no_discover":
            assert "speaks MCP protocol versions" in str(info.value)
        with pytest.raises(BridgeUnreachable, match="no session"):
            await client.get_settings()  # connect failed: nothing is open


async def test_bad_token_is_final(hive: Hive, bridge: Bridge) -> None:
    with pytest.raises(HarnessError, match="refused this agent's bearer token") as info:
        async with HiveClient(bridge.harness_url, "not-a-token"):
            pass
    assert not isinstance(info.value, BridgeUnreachable)
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    async with HiveClient(bridge.harness_url, _token(hive, "ann")) as ann:
        await hive.registry.remove("ann")  # its token dies with it
        with pytest.raises(HarnessError, match="HTTP 401") as info:
            await ann.get_settings()
        assert not isinstance(info.value, BridgeUnreachable)


async def test_bridge_down_then_back_elsewhere(hive: Hive) -> None:
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    # a bridge reuses its predecessor's port when it can: the second is made to move
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        elsewhere = probe.getsockname()[1]
    first, second = Bridge(hive), Bridge(hive, port=elsewhere)
    hive.add_service("first", first.run)
    await first.ready()
    urls = [first.harness_url]
    client = HiveClient(first.harness_url, _token(hive, "ann"), url_source=lambda: urls[-1])
    async with client:
        assert (await client.get_settings())["name"] == "ann"
        await first.aclose()
        while "first" in hive.services():
            await asyncio.sleep(0.02)
        with pytest.raises(BridgeUnreachable, match="ConnectError"):
            await client.get_settings()
        with pytest.raises(BridgeUnreachable, match="during connect"):
            await client.reconnect()
        hive.add_service("second", second.run)
        await second.ready()
        urls.append(second.harness_url)
        await client.reconnect()
        assert client.url == second.harness_url != first.harness_url
        assert (await client.get_settings())["name"] == "ann"
        await second.aclose()


def test_header_encoding_matches_the_sdk() -> None:
    for value in ["send", "", " x", "x ", "naïve", "a\nb", "=?base64?eA==?=", "a b"]:
        assert encode_header_value(value) == sdk_encode_header_value(value), value
