"""The bridge service: MCPServer over streamable HTTP, uvicorn as a task in the core's loop."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn
from mcp.server import MCPServer
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hivetui.bridge.auth import AgentTokenVerifier
from hivetui.bridge.tools import register_tools
from hivetui.core.errors import BridgeError
from hivetui.core.hive import Hive
from hivetui.core.paths import write_private_file

log = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process (TUI or serve) owns signals."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def build_mcp(hive: Hive, url: str) -> MCPServer:
    server = MCPServer(
        "hive",
        instructions="The hive's message bus and operator tools. Your identity is your token.",
        token_verifier=AgentTokenVerifier(hive.registry),
        auth=AuthSettings(issuer_url=url, resource_server_url=url,  # type: ignore[arg-type]
                          validate_token_resource=False),  # our verifier is the authority
    )
    # The SDK wraps every request in an OpenTelemetry span (a no-op without an exporter, which
    # the hive never installs) and documents dropping it from this list as the way to opt out:
    # measured at ~5-10% of the server's CPU per tool call (bench/bus.py).
    server.middleware[:] = [m for m in server.middleware
                            if not isinstance(m, OpenTelemetryMiddleware)]
    register_tools(server, hive)

    @server.custom_route(  # type: ignore[untyped-decorator]
        "/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(request: Request) -> Response:
        """Liveness without auth; says nothing about the hive but that it answers."""
        return JSONResponse({"ok": True})

    return server


class Bridge:
    """Serve the hive's MCP tools on ``host:port`` (0 picks a free port).

    Run as a hive service: ``hive.add_service("bridge", bridge.run)``; ``await
    bridge.ready()`` gives the URL, also written to ``<state>/run/bridge.json``.
    """

    def __init__(self, hive: Hive, host: str = "127.0.0.1", port: int = 0) -> None:
        self.hive = hive
        self.host = host
        self.port = port
        self.url = ""
        self._ready = asyncio.Event()
        self._server: _QuietServer | None = None

    async def ready(self, timeout: float = 10.0) -> str:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError as exc:
            raise BridgeError(f"the MCP bridge did not start within {timeout}s") from exc
        return self.url

    async def run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepts
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise BridgeError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        sock.listen(1024)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{port}/mcp"
        # built by a worker thread: the tools' schemas take a while, during which the
        # loop goes on serving (the embedded operator's keys: see hivetui.node)
        try:
            mcp, app = await asyncio.to_thread(self._build, port)
        except BaseException:
            sock.close()
            raise
        # No proxy sits in front of the bridge: X-Forwarded-* from a local agent (they all
        # connect from loopback, which uvicorn trusts by default) must not be believed.
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2, proxy_headers=False,
                                server_header=False)
        self._server = _QuietServer(config)
        async with mcp.session_manager.run():
            serve = asyncio.create_task(self._server.serve(sockets=[sock]))
            try:
                while not self._server.started and not serve.done():
                    await asyncio.sleep(0.01)
                if serve.done():
                    serve.result()
                write_private_file(self.hive.paths.bridge_file, json.dumps({"url": self.url}))
                if self.hive.lifecycle is not None:
                    self.hive.lifecycle.bridge_url = self.url
                log.info("MCP bridge listening at %s", self.url)
                self._ready.set()
                await serve
            finally:
                self._server.should_exit = True
                if not serve.done():
                    await asyncio.shield(serve)
                sock.close()

    def _build(self, port: int) -> tuple[MCPServer, Starlette]:
        mcp = build_mcp(self.hive, f"http://{self.host}:{port}")
        app = mcp.streamable_http_app(
            transport_security=TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=[f"{self.host}:*", "127.0.0.1:*", "localhost:*"],
            ),
            host=self.host,
            # One JSON response per call, handled in the request's task: no per-call task
            # group, stream and SSE framing (~0.2 ms of CPU per call, bench/bus.py). The
            # cost: nothing cancels a handler whose client left, which only matters for a
            # long-poll `recv` -- it watches for the disconnect itself (disconnect.py).
            json_response=True,
        )
        return mcp, app

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
