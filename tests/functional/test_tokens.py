"""Agents' bearer tokens: refused once the agent stops or is destroyed, new at each start
(issue 15: a stopped agent's token still set itself ``waiting_operator``).

Real hive, real bridge (uvicorn on loopback), real MCP calls; the containers are the fake
part (``FakeMemoryBackend``): the token reaches a container through the run dir bound at
``/run/hive``, so the file there is checked to be the token the bridge accepts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.hive import Hive
from tests.fakes.memory_backend import FakeMemoryBackend

CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "set_status", "arguments": {"status": "waiting_operator",
                                                       "detail": "let me in"},
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientInfo": {"name": "t",
                                                                    "version": "0"},
                             "io.modelcontextprotocol/clientCapabilities": {}}}}
HEADERS = {"accept": "application/json, text/event-stream",
           "content-type": "application/json", "mcp-protocol-version": "2026-07-28",
           "mcp-method": "tools/call", "mcp-name": "set_status"}


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Hive, Bridge]]:
    async with Hive(tmp_path / "state", backend=FakeMemoryBackend()) as hive:
        bridge = Bridge(hive)
        hive.add_service("bridge", bridge.run)
        await bridge.ready()
        assert hive.lifecycle is not None
        await hive.lifecycle.spawn("w1", runtime="scripted:echo", model="m")
        yield hive, bridge


def token_file(hive: Hive) -> str:
    return (hive.paths.agent_run("w1") / "token").read_text().strip()


async def status_of(url: str, token: str) -> int:
    async with httpx2.AsyncClient() as http:
        r = await http.post(url, json=CALL, headers={**HEADERS,
                                                     "authorization": f"Bearer {token}"})
    return r.status_code


async def test_a_stopped_agents_token_is_refused_and_each_start_issues_a_new_one(
        running: tuple[Hive, Bridge]) -> None:
    hive, bridge = running
    assert hive.lifecycle is not None
    first = token_file(hive)
    assert await status_of(bridge.url, first) == 200
    await hive.lifecycle.stop("w1")
    assert await status_of(bridge.url, first) == 401
    assert hive.registry.get("w1").status == "offline"  # the refused call changed nothing
    assert not (hive.paths.agent_run("w1") / "token").exists()
    await hive.lifecycle.start("w1")
    second = token_file(hive)  # what the container reads at /run/hive/token
    assert second != first
    assert await status_of(bridge.url, first) == 401
    assert await status_of(bridge.url, second) == 200
    await hive.lifecycle.restart("w1")
    third = token_file(hive)
    assert third not in (first, second)
    assert await status_of(bridge.url, second) == 401
    assert await status_of(bridge.url, third) == 200
    await hive.lifecycle.destroy("w1")
    assert await status_of(bridge.url, third) == 401


async def test_a_stopped_agents_token_stays_refused_across_a_core_restart(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with Hive(state, backend=FakeMemoryBackend()) as hive:
        assert hive.lifecycle is not None
        await hive.lifecycle.spawn("w1", runtime="scripted:echo", model="m")
        token = token_file(hive)
        await hive.lifecycle.stop("w1")
    async with Hive(state, backend=FakeMemoryBackend()) as hive:
        assert hive.registry.authenticate(token) is None
        assert hive.registry.get("w1").state == "stopped"
