"""The bridge service: MCPServer over streamable HTTP, uvicorn as a task in the core's loop.

Two endpoints share one server and one bearer identity (``core.tool_surface``): the
model's (``/mcp``, only the tools meant for a model, by role) and the harness's
(``/harness``, every tool). It listens on TCP (``bridge.host``/``bridge.port``: host-side
clients and host-network containers) and on the unix socket ``<state>/run/bridge.sock``,
which every private-network container reaches at a fixed loopback port
(:mod:`hivetui.core.forwards`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable, Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from mcp.server import MCPServer
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, InputRequiredResult
from mcp.types import Tool as MCPTool
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hivetui.bridge.auth import AgentTokenVerifier, caller_role
from hivetui.bridge.limits import SessionLimits
from hivetui.bridge.tools import register_tools
from hivetui.core.errors import BridgeError
from hivetui.core.forwards import host_socket
from hivetui.core.hive import Hive
from hivetui.core.listen import listen_again
from hivetui.core.paths import write_private_file
from hivetui.core.refusal import explain
from hivetui.core.registry import Registry
from hivetui.core.tool_surface import (
    HARNESS_PATH,
    HARNESS_TOOLS,
    MODEL_PATH,
    harness_url,
    model_tools,
)

log = logging.getLogger(__name__)

GRACEFUL_S = 2  # uvicorn's wait for requests in flight when it stops
STOP_WAIT_S = GRACEFUL_S + 3


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers (the process, TUI or serve, owns signals) that
    lets pending long-polls answer when it stops, instead of cancelling them mid-request
    (which uvicorn logs as "Exception in ASGI application ... CancelledError")."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], None]) -> None:
        super().__init__(config)
        self._drain = drain

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's shutdown first tells every connection to close after its current
        # response, then yields: only then may the long-polls answer, so an agent reconnects
        # (and finds the core gone) instead of asking again on a connection being drained
        asyncio.get_running_loop().call_soon(self._drain)
        await super().shutdown(sockets)


def _auth(hive: Hive, url: str) -> dict[str, Any]:
    return {
        "instructions": "The hive's message bus and operator tools. Your identity is your "
                        "token.",
        "token_verifier": AgentTokenVerifier(hive.registry),
        "auth": AuthSettings(issuer_url=url, resource_server_url=url,
                             validate_token_resource=False),  # our verifier is the authority
    }


def _with_tools(server: MCPServer, hive: Hive, tools: tuple[str, ...]) -> MCPServer:
    # The SDK wraps every request in an OpenTelemetry span (a no-op without an exporter, which
    # the hive never installs) and documents dropping it from this list as the way to opt out:
    # measured at ~5-10% of the server's CPU per tool call (bench/bus.py).
    server.middleware[:] = [m for m in server.middleware
                            if not isinstance(m, OpenTelemetryMiddleware)]
    register_tools(server, hive, tools)
    return server


class ToolServer(MCPServer):
    """An MCP server whose refusals of a call's arguments (the typed signatures of
    :mod:`hivetui.bridge.tools`) are one line naming each argument and its rule."""

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[Any, Any] | None = None
                        ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            tool = self._tool_manager.get_tool(name)
            if not isinstance(exc.__cause__, ValidationError) or tool is None:
                raise
            reasons = explain(exc.__cause__, tool.fn_metadata.arg_model, noun="argument")
            raise ToolError(f"Error executing tool {name}: {reasons}") from exc.__cause__


class ModelServer(ToolServer):
    """The model's endpoint: a tool list filtered by the caller's role (a worker's model is
    not shown the manager tools; calling one still gets the clear manager-only refusal)."""

    def __init__(self, registry: Registry, **kwargs: Any) -> None:
        super().__init__("hive", **kwargs)
        self._registry = registry

    async def list_tools(self) -> list[MCPTool]:
        allowed = model_tools(caller_role(self._registry))
        return [t for t in await super().list_tools() if t.name in allowed]


def build_mcp(hive: Hive, url: str) -> MCPServer:
    """The model's endpoint: every tool some model may call, listed by the caller's role."""
    server = _with_tools(ModelServer(hive.registry, **_auth(hive, url)), hive,
                         model_tools("manager"))

    @server.custom_route(  # type: ignore[untyped-decorator]
        "/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(request: Request) -> Response:
        """Liveness without auth; says nothing about the hive but that it answers."""
        return JSONResponse({"ok": True})

    return server


def build_harness_mcp(hive: Hive, url: str) -> MCPServer:
    """The harness's endpoint: every tool, the harness's own among them."""
    return _with_tools(ToolServer("hive-harness", **_auth(hive, url)), hive,
                       (*model_tools("manager"), *HARNESS_TOOLS))


def build_app(model: MCPServer, harness: MCPServer, host: str,
              session_idle_s: float) -> Starlette:
    """One ASGI app serving both endpoints (their session managers must both run)."""
    def app_for(server: MCPServer, path: str) -> Starlette:
        return server.streamable_http_app(
            streamable_http_path=path,
            transport_security=TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=[f"{host}:*", "127.0.0.1:*", "localhost:*"],
            ),
            host=host,
            # One JSON response per call, handled in the request's task: no per-call task
            # group, stream and SSE framing (~0.2 ms of CPU per call, bench/bus.py). The
            # cost: nothing cancels a handler whose client left, which only matters for a
            # long-poll `recv` -- it watches for the disconnect itself (disconnect.py).
            json_response=True,
            session_idle_timeout=session_idle_s,
        )

    app = app_for(model, MODEL_PATH)
    # the same auth middleware (one verifier) guards both: take the harness's route only
    app.router.routes.extend(r for r in app_for(harness, HARNESS_PATH).routes
                             if getattr(r, "path", None) == HARNESS_PATH)
    return app


def last_port(bridge_file: Path, host: str) -> int:
    """The port the previous core of this state dir listened on (0 if unknown)."""
    try:
        url = urlsplit(str(json.loads(bridge_file.read_text("utf-8"))["url"]))
        return (url.port or 0) if url.hostname == host else 0
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _bind_unix(path: Path) -> socket.socket:
    """A fresh listening socket at ``path`` (whatever was there is replaced), 0666: the
    containers' uid connects through their ``net/`` link; ``run/`` (0700) guards it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path.unlink(missing_ok=True)
        sock.bind(str(path))
        os.chmod(path, 0o666)
    except OSError as exc:
        sock.close()
        raise BridgeError(f"cannot listen on {path}: {exc}") from exc
    return sock


class Bridge:
    """Serve the hive's MCP tools on ``host:port``.

    Port 0 means: the port of the previous core of this state dir (read back from
    ``<state>/run/bridge.json``), so running agents find a restarted core where they left
    it; a free port when that one is taken or there was none. Whatever the port, every
    agent's ``bridge.json`` is brought up to date once the bridge listens (the harness
    re-reads it on each reconnect).

    Run as a hive service: ``hive.add_service("bridge", bridge.run)``; ``await
    bridge.ready()`` gives the URL, also written to ``<state>/run/bridge.json``.
    """

    def __init__(self, hive: Hive, host: str = "127.0.0.1", port: int = 0) -> None:
        self.hive = hive
        self.host = host
        self.port = port
        self.url = ""  # the model's endpoint
        self.harness_url = ""  # the harness's endpoint
        self._ready = asyncio.Event()  # set once listening, or once it could not listen
        self._start_error: BridgeError | None = None
        self._server: _QuietServer | None = None
        # per-agent session limits of each endpoint, once serving
        self.sessions: SessionLimits | None = None
        self.harness_sessions: SessionLimits | None = None
        self._task: asyncio.Task[object] | None = None

    async def ready(self, timeout: float = 10.0) -> str:
        """The URL once :meth:`run` serves; raise what stopped it from listening."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError as exc:
            raise BridgeError(f"the MCP bridge did not start within {timeout}s") from exc
        if self._start_error is not None:
            raise self._start_error
        return self.url

    def _listen(self) -> socket.socket:
        previous = last_port(self.hive.paths.bridge_file, self.host) if self.port == 0 else 0
        return listen_again(self.host, self.port, previous, "MCP bridge",
                            "bridge.host, bridge.port")

    async def run(self) -> None:
        self._task = asyncio.current_task()
        self._ready.clear()  # a restart after a failure: ready() waits for this attempt
        try:
            sock = self._listen()
            try:
                unix = _bind_unix(host_socket(self.hive.paths, "bridge"))
            except BaseException:
                sock.close()
                raise
        except BridgeError as exc:
            self._start_error = exc
            self._ready.set()
            raise
        self._start_error = None
        for listening in (sock, unix):
            listening.listen(1024)
            listening.setblocking(False)
        port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{port}/mcp"
        self.harness_url = harness_url(self.url)
        # built by a worker thread: the tools' schemas take a while, during which the
        # loop goes on serving (the embedded operator's keys: see hivetui.node)
        try:
            mcp, harness, app = await asyncio.to_thread(self._build, port)
        except BaseException:
            sock.close()
            unix.close()
            raise
        limits = self.hive.config.bridge
        # per endpoint, per agent: the claude CLI opens sessions on the model's, a hostile
        # agent could open them on either
        model_limits = self.sessions = SessionLimits(
            app, mcp.session_manager, self.hive.registry, limits, path=MODEL_PATH)
        sessions = self.harness_sessions = SessionLimits(
            model_limits, harness.session_manager, self.hive.registry, limits,
            path=HARNESS_PATH)
        # No proxy sits in front of the bridge: X-Forwarded-* from a local agent (they all
        # connect from loopback, which uvicorn trusts by default) must not be believed.
        config = uvicorn.Config(sessions, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=GRACEFUL_S, proxy_headers=False,
                                server_header=False)
        self._server = _QuietServer(config, self.hive.bus.drain_long_polls)
        async with mcp.session_manager.run(), harness.session_manager.run():
            serve = asyncio.create_task(self._server.serve(sockets=[sock, unix]))
            reapers = [asyncio.create_task(limited.reap_forever(), name="bridge-reaper")
                       for limited in (model_limits, sessions)]
            try:
                while not self._server.started and not serve.done():
                    await asyncio.sleep(0.01)
                if serve.done():
                    serve.result()
                write_private_file(self.hive.paths.bridge_file, json.dumps({"url": self.url}))
                if self.hive.lifecycle is not None:
                    self.hive.lifecycle.publish_bridge_url(self.url)
                    self.hive.lifecycle.publish_socket("bridge")
                log.info("MCP bridge listening at %s", self.url)
                self._ready.set()
                await serve
            finally:
                for reaper in reapers:
                    reaper.cancel()
                self._server.should_exit = True
                if not serve.done():
                    await asyncio.shield(serve)
                sock.close()
                unix.close()
                self.hive.bus.drain_long_polls(False)

    def _build(self, port: int) -> tuple[MCPServer, MCPServer, Starlette]:
        base = f"http://{self.host}:{port}"
        mcp, harness = build_mcp(self.hive, base), build_harness_mcp(self.hive, base)
        return mcp, harness, build_app(mcp, harness, self.host,
                                       self.hive.config.bridge.session_idle_s)

    async def aclose(self) -> None:
        """Stop serving; returns once uvicorn has drained (or after ``STOP_WAIT_S``), so
        whoever cancels the service next cannot cut the drain short."""
        if self._server is not None:
            self._server.should_exit = True
            task = self._task
            if task is not None and task is not asyncio.current_task():
                await asyncio.wait({task}, timeout=STOP_WAIT_S)
