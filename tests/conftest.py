"""Shared fixtures: a real hive on a temp dir, a real bridge on loopback, real MCP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.hive import Hive
from tests.mcp_util import AgentClient, agent_client


@pytest.fixture
async def hive(tmp_path: Path) -> AsyncIterator[Hive]:
    async with Hive(tmp_path / "state") as h:
        yield h


@pytest.fixture
async def bridge(hive: Hive) -> AsyncIterator[Bridge]:
    b = Bridge(hive)
    hive.add_service("bridge", b.run)
    await b.ready()
    yield b


@pytest.fixture
def connect(hive: Hive, bridge: Bridge):  # type: ignore[no-untyped-def]
    """``async with connect("alice") as c: await c.call("send", to=..., body=...)``"""

    def _connect(name: str, token: str | None = None):  # type: ignore[no-untyped-def]
        if token is None:
            token = (hive.paths.agent_run(name) / "token").read_text().strip()
        return agent_client(bridge.harness_url, token)

    return _connect


__all__ = ["AgentClient"]
