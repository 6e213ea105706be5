"""Bearer-token identity: the token names the agent, never what the caller says."""

from __future__ import annotations

import logging

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError

from hivetui.core.registry import Agent, Registry

log = logging.getLogger(__name__)

AGENT_SCOPE = "hive:agent"


class AgentTokenVerifier:
    """``TokenVerifier`` for the mcp SDK: maps a bearer token to its agent."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def verify_token(self, token: str) -> AccessToken | None:
        agent = self._registry.authenticate(token)
        if agent is None:
            log.warning("bridge: refused an unknown bearer token")
            return None
        return AccessToken(token=token, client_id=agent.name, scopes=[AGENT_SCOPE],
                           subject=agent.name)


def caller(registry: Registry) -> Agent:
    """The verified agent making the current tool call."""
    token = get_access_token()
    if token is None:
        raise ToolError("unauthenticated: the bridge needs the agent's bearer token")
    agent = registry.find(token.client_id)
    if agent is None:
        raise ToolError(f"agent {token.client_id!r} no longer exists in this hive")
    return agent


def caller_role(registry: Registry) -> str:
    """The role of the verified caller; "worker" (the least) when it cannot be told."""
    token = get_access_token()
    agent = registry.find(token.client_id) if token is not None else None
    return agent.role if agent is not None else "worker"
