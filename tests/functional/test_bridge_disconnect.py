"""A long-poll whose HTTP client went away takes nothing: the next message is not lost.

Real uvicorn on loopback; the abandoning client is a raw socket that writes one request
and closes, in both wire versions the bridge serves (2026-07-28 single-exchange POSTs, and
the session-based 2025-06-18 transport older MCP clients such as Claude Code speak).
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.hive import Hive

MODERN = "2026-07-28"
LEGACY = "2025-06-18"


def _meta() -> dict[str, object]:
    return {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {}}


async def _post(url: str, token: str, body: dict[str, object], version: str,
                session: str | None = None, read: bool = True
                ) -> tuple[int, dict[str, str], bytes, asyncio.StreamWriter]:
    """One HTTP/1.1 POST on a fresh connection; with ``read=False`` return right after
    writing it (the caller then closes the socket: a client that went away)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    payload = json.dumps(body).encode()
    headers = {"Host": parts.netloc, "Authorization": f"Bearer {token}",
               "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": version, "Content-Length": str(len(payload))}
    if version == MODERN:
        headers["Mcp-Method"] = str(body["method"])
        params = body.get("params")
        if isinstance(params, dict) and "name" in params:
            headers["Mcp-Name"] = str(params["name"])
    if session:
        headers["Mcp-Session-Id"] = session
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST {parts.path} HTTP/1.1\r\n{head}\r\n".encode() + payload)
    await writer.drain()
    if not read:
        return 0, {}, b"", writer
    status_line = await reader.readline()
    got: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        k, _, v = line.decode().partition(":")
        got[k.strip().lower()] = v.strip()
    data = await reader.readexactly(int(got.get("content-length", "0")))
    writer.close()
    return int(status_line.split()[1]), got, data, writer


def _call(name: str, args: dict[str, object], rid: int, modern: bool) -> dict[str, object]:
    params: dict[str, object] = {"name": name, "arguments": args}
    if modern:
        params["_meta"] = _meta()
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


async def _legacy_session(url: str, token: str) -> str:
    status, headers, _, _ = await _post(url, token, {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {},
                   "clientInfo": {"name": "test", "version": "0"}}}, LEGACY)
    assert status == 200, status
    session = headers["mcp-session-id"]
    status, _, _, _ = await _post(url, token, {"jsonrpc": "2.0",
                                               "method": "notifications/initialized"},
                                  LEGACY, session)
    assert status == 202, status
    return session


@pytest.mark.parametrize("version", [MODERN, LEGACY])
async def test_abandoned_long_poll_takes_nothing(hive: Hive, bridge: Bridge, version: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    await hive.registry.create("bob", runtime="scripted:echo", model="m")
    token = (hive.paths.agent_run("bob") / "token").read_text().strip()
    modern = version == MODERN
    session = None if modern else await _legacy_session(bridge.harness_url, token)
    caplog.set_level(logging.INFO, logger="hivetui.bridge")

    def noticed() -> bool:
        return any("disconnected during a long-poll" in r.message for r in caplog.records)

    # bob long-polls for 30 s, then his client goes away (a killed agent, a dropped link)
    url = bridge.harness_url
    _, _, _, writer = await _post(url, token, _call("recv", {"wait_s": 30}, 7, modern),
                                  version, session, read=False)
    await asyncio.sleep(0.3)  # the poll is waiting in the bus
    writer.close()
    await writer.wait_closed()
    for _ in range(100):  # the bridge notices the disconnect and ends the wait
        if noticed():
            break
        await asyncio.sleep(0.02)

    await hive.bus.send("alice", "bob", "do not lose me")
    await asyncio.sleep(0.1)  # an abandoned poll still waiting would take it now
    assert hive.bus.depth("bob") == 1
    status, _, data, _ = await _post(url, token, _call("recv", {"wait_s": 1}, 8, modern),
                                     version, session)
    assert status == 200, data
    result = json.loads(data)["result"]
    assert [m["body"] for m in result["structuredContent"]["messages"]] == ["do not lose me"]
    assert noticed()


async def test_a_long_poll_still_answers_when_its_client_stays(hive: Hive,
                                                               bridge: Bridge) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    token = (hive.paths.agent_run("alice") / "token").read_text().strip()
    poll = asyncio.create_task(_post(bridge.harness_url, token,
                                     _call("recv", {"wait_s": 5}, 1, True), MODERN))
    await asyncio.sleep(0.2)
    await hive.bus.send("operator", "alice", "hello")
    status, _, data, _ = await asyncio.wait_for(poll, 2)
    assert status == 200
    assert json.loads(data)["result"]["structuredContent"]["messages"][0]["body"] == "hello"
    assert hive.bus.depth("alice") == 0
