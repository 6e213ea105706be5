"""Per-agent MCP session limits on the bridge (issue 15, point 4).

Real hive, real bridge (uvicorn on loopback), real HTTP: one agent's token floods the
bridge with session-opening ``initialize`` requests (the handshake protocol the claude CLI
speaks) while another agent, on the same protocol through the mcp SDK's client, keeps
sending. Today's SDK defaults let one token hold 10,000 sessions and then answer every
other agent 503.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hivetui.bridge import limits
from hivetui.bridge.server import Bridge
from hivetui.core.config import HiveConfig
from hivetui.core.hive import Hive

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "flood", "version": "0"}}}
HEADERS = {"accept": "application/json, text/event-stream",
           "content-type": "application/json"}


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[tuple[Hive, Bridge, dict[str, str]]]:
    cfg = HiveConfig()
    cfg.bridge.max_sessions_per_agent = 4
    cfg.bridge.new_sessions_per_minute = 100_000  # the cap alone is under test here
    cfg.bridge.unused_session_s = 0.5
    async with Hive(tmp_path / "state", cfg) as hive:
        tokens = {}
        for name in ("flood", "quiet"):
            await hive.registry.create(name, runtime="scripted:echo", model="m")
            tokens[name] = (hive.paths.agent_run(name) / "token").read_text().strip()
        bridge = Bridge(hive)
        hive.add_service("bridge", bridge.run)
        await bridge.ready()
        yield hive, bridge, tokens


async def open_session(http: httpx2.AsyncClient, url: str) -> tuple[int, str]:
    r = await http.post(url, json=INIT, headers=HEADERS)
    return r.status_code, r.headers.get("mcp-session-id", "")


async def flood(url: str, token: str, n: int, statuses: Counter[int]) -> None:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"},
                                  timeout=30) as http:
        for _ in range(n // 10):
            for status, _sid in await asyncio.gather(*(open_session(http, url)
                                                        for _ in range(10))):
                statuses[status] += 1


@pytest.mark.slow
async def test_a_session_flood_stays_with_its_agent(
        limited: tuple[Hive, Bridge, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    hive, bridge, tokens = limited
    monkeypatch.setattr(limits, "REFUSAL_DELAY_S", 0.01)  # 400 refusals in a test's time
    statuses: Counter[int] = Counter()
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            assert bridge.sessions is not None
            peak = max(peak, bridge.sessions.open_sessions())
            await asyncio.sleep(0.005)

    async def quiet_agent() -> int:
        sent = 0
        async with httpx2.AsyncClient(headers={"authorization": f"Bearer {tokens['quiet']}"},
                                      timeout=30) as http, \
                Client(streamable_http_client(bridge.url, http_client=http),
                       mode="legacy") as client:
            for i in range(30):
                result = await client.call_tool("send", {"to": "flood", "body": f"#{i}"})
                assert not result.is_error, result.content
                sent += 1
        return sent

    watcher = asyncio.create_task(watch())
    try:
        _, sent = await asyncio.gather(flood(bridge.url, tokens["flood"], 400, statuses),
                                       quiet_agent())
    finally:
        watcher.cancel()
    assert sent == 30  # the other agent's every call went through
    assert statuses[200] > 0 and set(statuses) <= {200, 429}, statuses
    # the flooder never held more than its cap (+1: the quiet agent's own session)
    assert peak <= 4 + 1, peak
    # what it left behind, never used, is gone within seconds
    for _ in range(100):
        assert bridge.sessions is not None
        if bridge.sessions.open_sessions("flood") == 0 and bridge.sessions.open_sessions() == 0:
            break
        await asyncio.sleep(0.05)
    assert bridge.sessions.open_sessions() == 0
    assert hive.bus.depth("flood") == 30  # every message the quiet agent sent is kept


@asynccontextmanager
async def one_agents_bridge(tmp_path: Path, **bridge_settings: int
                            ) -> AsyncIterator[tuple[Bridge, httpx2.AsyncClient]]:
    """A bridge with ``bridge_settings`` and an HTTP client holding agent w1's token."""
    cfg = HiveConfig()
    for key, value in bridge_settings.items():
        setattr(cfg.bridge, key, value)
    async with Hive(tmp_path / "state", cfg) as hive:
        await hive.registry.create("w1", runtime="scripted:echo", model="m")
        token = (hive.paths.agent_run("w1") / "token").read_text().strip()
        bridge = Bridge(hive)
        hive.add_service("bridge", bridge.run)
        await bridge.ready()
        async with httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}) as http:
            yield bridge, http


async def test_new_sessions_per_minute_are_refused_with_the_setting_named(
        tmp_path: Path) -> None:
    async with one_agents_bridge(tmp_path, new_sessions_per_minute=3) as (bridge, http):
        codes = [(await open_session(http, bridge.url))[0] for _ in range(3)]
        refused = await http.post(bridge.url, json=INIT, headers=HEADERS)
    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert "bridge.new_sessions_per_minute = 3" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "60"


async def test_at_the_cap_the_least_recently_used_idle_session_yields(
        tmp_path: Path) -> None:
    async with one_agents_bridge(tmp_path, max_sessions_per_agent=2) as (bridge, http):
        first = (await open_session(http, bridge.url))[1]
        second = (await open_session(http, bridge.url))[1]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        session = {**HEADERS, "mcp-protocol-version": "2025-11-25"}
        assert (await http.post(bridge.url, json=ping,
                                headers={**session, "mcp-session-id": second})
                ).status_code == 200
        third = (await open_session(http, bridge.url))[1]
        await asyncio.sleep(0.1)
        gone = await http.post(bridge.url, json=ping,
                               headers={**session, "mcp-session-id": first})
        kept = await http.post(bridge.url, json=ping,
                               headers={**session, "mcp-session-id": second})
    assert third and gone.status_code == 404 and kept.status_code == 200
    assert bridge.sessions is not None and bridge.sessions.open_sessions("w1") == 2
