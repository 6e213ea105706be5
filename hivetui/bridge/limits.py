"""Per-agent limits on the bridge's MCP sessions: one agent's flood never reaches the others.

Clients of the handshake protocols (MCP 2024-11-05 .. 2025-11-25, the claude CLI's) open a
*session*: the mcp SDK keeps a server task and its streams for each, with one cap for all
clients together (10,000) and a 30-minute idle timeout. One token could open them all, grow
the core by hundreds of MB, and every other agent then got ``503 Too many open sessions``.

:class:`SessionLimits` is ASGI middleware in front of the SDK's app. Per agent (the bearer
token names it; an unknown token passes through to the SDK's 401):

- at most ``bridge.max_sessions_per_agent`` sessions are open at once. At the cap, a new
  session first ends that agent's least recently used session with no request in flight
  (clients often never close theirs); when every one is busy, it is refused (HTTP 429);
- at most ``bridge.new_sessions_per_minute`` new sessions in any 60 s: beyond, HTTP 429
  with ``Retry-After``, answered after :data:`REFUSAL_DELAY_S` (a flood is slowed down to
  its number of connections per second);
- a session with no request since the one that opened it is ended after
  ``bridge.unused_session_s`` (what a flood leaves behind). A session in use ends after
  ``bridge.session_idle_s`` without requests (the SDK's timeout): long, since the claude
  CLI does not re-open a session the server ended.

Requests of the sessionless protocol (MCP 2026-07-28: the harness's client) open nothing
and pass untouched; so do requests of sessions this middleware did not see open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from hivetui.core.config import BridgeConfig
from hivetui.core.registry import Registry

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WINDOW_S = 60.0
#: a refused opening request gets its answer after this long: a flooding client then costs
#: the bridge one sleeping coroutine per connection instead of a core's worth of parsing
#: refusals (bench/bus.py --flood), and the agents that behave never wait for it
REFUSAL_DELAY_S = 1.0
END_WAIT_S = 1.0  # how long making room waits for an ended session to be let go
WARN_EVERY_S = 10.0  # a flood is logged once per agent per this many seconds, not per request
_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"


@dataclass
class _Session:
    agent: str
    opened: float
    last: float
    used: bool = False  # a request came after the one that opened it
    in_flight: int = 0
    ending: bool = False  # told to end; counts against the cap until the SDK lets it go


@dataclass
class _Agent:
    sessions: dict[str, _Session] = field(default_factory=dict)
    opening: int = 0  # opening requests being served (not yet a session id)
    admitted: deque[float] = field(default_factory=deque)  # when recent sessions opened
    warned: float = 0.0


class SessionLimits:
    """Wraps ``app`` (the SDK's Starlette app); ``manager`` is its session manager."""

    def __init__(self, app: ASGIApp, manager: StreamableHTTPSessionManager, registry: Registry,
                 config: BridgeConfig, path: str = "/mcp",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._app = app
        self._manager = manager
        self._registry = registry
        self._config = config
        self._path = path
        self._clock = clock
        self._agents: dict[str, _Agent] = {}
        self._sessions: dict[str, _Session] = {}

    # --- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self._path:
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        session_id = headers.get(_SESSION_HEADER, b"").decode("latin-1")
        if session_id:
            await self._in_session(session_id, scope, receive, send)
            return
        version = headers.get(_VERSION_HEADER, b"").decode("latin-1")
        agent = self._agent(headers) if scope["method"] == "POST" and (
            not version or version in HANDSHAKE_PROTOCOL_VERSIONS) else None
        if agent is None:
            await self._app(scope, receive, send)
            return
        refusal = await self._admit(agent)
        if refusal is not None:
            await asyncio.sleep(REFUSAL_DELAY_S)
            await _refuse(send, refusal)
            return
        await self._open(agent, scope, receive, send)

    def _agent(self, headers: dict[bytes, bytes]) -> str | None:
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        agent = self._registry.authenticate(token.strip())
        return agent.name if agent is not None else None

    async def _open(self, agent: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve an admitted opening request (its slot is held in ``opening``)."""
        state = self._agents[agent]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                for key, value in message.get("headers", ()):
                    if key.lower() == _SESSION_HEADER:
                        now = self._clock()
                        session = _Session(agent, now, now)
                        state.sessions[value.decode("latin-1")] = session
                        self._sessions[value.decode("latin-1")] = session
            await send(message)

        try:
            await self._app(scope, receive, watch)
        finally:
            state.opening -= 1

    async def _in_session(self, session_id: str, scope: Scope, receive: Receive,
                          send: Send) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            await self._app(scope, receive, send)
            return
        session.used = True
        session.in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            session.in_flight -= 1
            session.last = self._clock()
            if scope["method"] == "DELETE":
                self._forget(session_id)

    # --- admission ----------------------------------------------------------------------
    async def _admit(self, agent: str) -> str | None:
        """None if ``agent`` may open a session now (room made if needed, the slot held in
        ``opening``), else why not."""
        cfg = self._config
        state = self._agents.setdefault(agent, _Agent())
        now = self._clock()
        while state.admitted and state.admitted[0] <= now - WINDOW_S:
            state.admitted.popleft()
        if len(state.admitted) >= cfg.new_sessions_per_minute:
            return self._refusal(state, agent, (
                f"agent {agent} opened {len(state.admitted)} MCP sessions in the last "
                f"{WINDOW_S:g}s; the limit is bridge.new_sessions_per_minute = "
                f"{cfg.new_sessions_per_minute}"))
        self._prune(state)
        while len(state.sessions) + state.opening >= cfg.max_sessions_per_agent:
            idle = [(s.last, sid) for sid, s in state.sessions.items()
                    if not s.in_flight and not s.ending]
            if not idle:
                return self._refusal(state, agent, (
                    f"agent {agent} has {len(state.sessions) + state.opening} MCP sessions "
                    f"busy or closing; the cap is bridge.max_sessions_per_agent = "
                    f"{cfg.max_sessions_per_agent}"))
            await self._end(min(idle)[1])
        state.admitted.append(now)
        state.opening += 1
        return None

    def _refusal(self, state: _Agent, agent: str, reason: str) -> str:
        now = self._clock()
        if now - state.warned >= WARN_EVERY_S:
            state.warned = now
            log.warning("bridge: refused a new MCP session: %s", reason)
        return reason

    # --- ending sessions ----------------------------------------------------------------
    def _live(self, session_id: str) -> Any:
        """The SDK's transport of a session still open, else None. The one place that
        reads the session manager's table (mcp 2.x keeps no public accessor)."""
        return self._manager._server_instances.get(session_id)

    def _prune(self, state: _Agent) -> None:
        """Forget sessions the SDK ended on its own (idle timeout, a crash)."""
        for session_id in [sid for sid in state.sessions if self._live(sid) is None]:
            self._forget(session_id)

    def _cancel(self, session_id: str) -> None:
        """Tell the SDK to end a session. Its server task ends on the loop's next turns,
        then the SDK forgets it (and :meth:`_prune` this record): until then it still holds
        memory, so it still counts against its agent's cap."""
        transport = self._live(session_id)
        if transport is None:
            self._forget(session_id)
        elif transport.idle_scope is not None:
            transport.idle_scope.cancel()
            self._sessions[session_id].ending = True

    async def _end(self, session_id: str) -> None:
        """:meth:`_cancel`, then wait (a little) until the SDK let it go."""
        self._cancel(session_id)
        deadline = self._clock() + END_WAIT_S
        while self._live(session_id) is not None and self._clock() < deadline:
            await asyncio.sleep(0.001)
        if self._live(session_id) is None:
            self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            self._agents[session.agent].sessions.pop(session_id, None)

    def reap(self) -> int:
        """End every session unused for ``bridge.unused_session_s``; how many ended."""
        now = self._clock()
        limit = self._config.unused_session_s
        stale = [sid for sid, s in self._sessions.items()
                 if not s.used and not s.in_flight and not s.ending
                 and now - s.opened >= limit]
        for session_id in stale:
            self._cancel(session_id)
        for state in self._agents.values():
            self._prune(state)
        return len(stale)

    async def reap_forever(self) -> None:
        interval = max(0.05, min(1.0, self._config.unused_session_s / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                self.reap()
            except Exception:  # a reaper must outlive one bad pass; said in the log
                log.exception("bridge: reaping unused MCP sessions failed")

    def open_sessions(self, agent: str | None = None) -> int:
        """Sessions open for ``agent`` as tracked here; with no agent, every session the
        SDK holds (this middleware's view or not)."""
        if agent is None:
            return len(self._manager._server_instances)
        state = self._agents.get(agent)
        return len(state.sessions) if state is not None else 0


async def _refuse(send: Send, reason: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None,
                       "error": {"code": -32000, "message": reason}}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(int(WINDOW_S)).encode())]})
    await send({"type": "http.response.body", "body": body})
