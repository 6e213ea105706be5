"""A minimal real MCP client over streamable HTTP for tests (the `mcp` package's Client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


class ToolFailed(Exception):
    """The tool answered with is_error; the text is the server's message."""


class AgentClient:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, tool: str, **args: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, args)
        if result.is_error:
            text = " ".join(getattr(c, "text", "") for c in result.content)
            raise ToolFailed(text)
        assert isinstance(result.structured_content, dict)
        return result.structured_content


@asynccontextmanager
async def agent_client(url: str, token: str) -> AsyncIterator[AgentClient]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx2.Timeout(30.0)) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        yield AgentClient(client)
