"""The credential broker: agents reach the Anthropic API through the core, never with its key.

Inside a container claude's ``ANTHROPIC_BASE_URL`` is the broker and its credential is the
agent's own hive token (``ANTHROPIC_AUTH_TOKEN``, sent as ``Authorization: Bearer``). For
each request the broker

1. lets through only the Messages endpoints (``POST /v1/messages``, ``POST
   /v1/messages/count_tokens``, ``GET /v1/models``): an agent cannot reach batch or file
   endpoints that would spend without a streamed ``usage`` to count;
2. names the agent by its token (a stopped or destroyed agent's token is revoked, so
   refused, as on the MCP bridge);
3. refuses an agent whose ``budget_usd_per_day`` is spent (core/spend.py);
4. replaces the agent's token with the operator's credential (credential.py) and forwards
   to ``[anthropic] base_url``;
5. streams the answer back chunk by chunk as it arrives (nothing is held back: SSE goes
   straight through) while reading its model and ``usage`` on the side (usage.py), which
   it reports to the core's spend counter when the answer ends.

Every refusal is an Anthropic-shaped error (``{"type": "error", "error": {"type",
"message"}}``, ``x-should-retry: false``) whose message the CLI shows and the hive reports
as the turn's failure.

It listens on ``<state>/run/broker.sock`` (a unix socket, for forwarding into a container's
own network namespace) and on a loopback TCP port kept across restarts like the bridge's
(``<state>/run/broker.json``). One raw ASGI app on uvicorn in the core's loop; one pooled
``httpx2`` client upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from hivetui.broker.credential import Credential
from hivetui.broker.usage import UsageReader
from hivetui.core.errors import BridgeError
from hivetui.core.forwards import host_socket
from hivetui.core.hive import Hive
from hivetui.core.listen import listen_again
from hivetui.core.paths import write_private_file

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ROUTES = {("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"),
          ("GET", "/v1/models")}
COUNTED = "/v1/messages"
MAX_REQUEST_BYTES = 32 * 1024 * 1024  # the Messages API's own request size limit
#: never forwarded in either direction: hop-by-hop headers, and what the broker sets itself
_DROPPED = frozenset({b"connection", b"keep-alive", b"proxy-authenticate",
                      b"proxy-authorization", b"te", b"trailer", b"transfer-encoding",
                      b"upgrade", b"host", b"content-length"})
_AUTH = frozenset({b"authorization", b"x-api-key", b"anthropic-beta", b"accept-encoding"})
#: answer headers recomputed when the body is decoded on its way through
_ENCODING = frozenset({b"content-encoding", b"content-length"})
GRACEFUL_S = 2
NO_CREDENTIAL = ("hivetui broker: the core holds no Anthropic credential. The operator sets "
                 "ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN in the core's environment, or "
                 "[anthropic] key_file in config.toml, and restarts the core.")


def api_error(status: int, kind: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"type": "error", "error": {"type": kind,
                                                          "message": message}}).encode()


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-should-retry", b"false")]})
    await send({"type": "http.response.body", "body": body})


def _agent_token(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].decode("latin-1").strip()
        if key == b"x-api-key":
            return value.decode("latin-1").strip()
    return ""


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None when it is over MAX_REQUEST_BYTES or the client left."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return None
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


class BrokerApp:
    """The ASGI app: one request in, the operator's credential on, the answer streamed out."""

    def __init__(self, hive: Hive, credential: Credential | None, base_url: str,
                 client: httpx2.AsyncClient) -> None:
        self.hive = hive
        self.credential = credential
        self.base_url = base_url.rstrip("/")
        self.client = client
        #: answers being counted (core/spend.py); waited for when the broker stops
        self.counting: set[asyncio.Future[float]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        refusal = await self._refusal(scope)
        if isinstance(refusal, tuple):
            await _answer(send, *refusal)
            return
        agent = refusal
        body = await _read_body(receive)
        if body is None:
            await _answer(send, *api_error(413, "request_too_large", "hivetui broker: the "
                          f"request body is over {MAX_REQUEST_BYTES} bytes, or it never came"))
            return
        await self._forward(scope, receive, send, agent, body)

    async def _refusal(self, scope: Scope) -> tuple[int, bytes] | str:
        """The agent's name, or why the request is refused (status, error body)."""
        method, path = scope["method"], scope["path"]
        if (method, path) not in ROUTES:
            return api_error(404, "not_found_error", f"hivetui broker: {method} "
                             f"{path[:100]} is not forwarded (only POST /v1/messages, POST "
                             "/v1/messages/count_tokens and GET /v1/models are)")
        token = _agent_token(scope["headers"])
        agent = self.hive.registry.authenticate(token) if token else None
        if agent is None:
            log.warning("broker: refused a request with an unknown or revoked agent token")
            return api_error(401, "authentication_error", "hivetui broker: unknown or revoked "
                             "agent token (a stopped or destroyed agent's token is refused)")
        if self.credential is None:
            return api_error(401, "authentication_error", NO_CREDENTIAL)
        if path == COUNTED:
            over = await self.hive.spend.refusal(agent.name)
            if over is not None:
                # as the API itself answers an account out of credit: 400, not retried
                return api_error(400, "invalid_request_error", over)
        return agent.name

    def _upstream_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        assert self.credential is not None
        beta = ""
        headers = []
        for key, value in scope["headers"]:
            if key == b"anthropic-beta":
                beta = value.decode("latin-1")
            elif key not in _DROPPED and key not in _AUTH:
                headers.append((key, value))
        headers += self.credential.headers(beta)
        headers.append((b"accept-encoding", b"identity"))
        return headers

    async def _forward(self, scope: Scope, receive: Receive, send: Send, agent: str,
                       body: bytes) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.base_url + scope["path"] + (f"?{query}" if query else "")
        request = self.client.build_request(scope["method"], url, content=body,
                                            headers=self._upstream_headers(scope))
        try:
            response = await self.client.send(request, stream=True)
        except httpx2.HTTPError as exc:
            log.warning("broker: %s for %s: %s", self.base_url, agent, exc)
            await _answer(send, *api_error(502, "api_error", "hivetui broker: cannot reach "
                          f"[anthropic] base_url {self.base_url[:200]}: "
                          f"{type(exc).__name__}"))
            return
        streaming = response.headers.get("content-type", "").startswith("text/event-stream")
        reader = UsageReader(streaming) if scope["path"] == COUNTED and \
            response.status_code == 200 else None
        relay = asyncio.ensure_future(self._relay(response, send, reader))
        left = asyncio.ensure_future(_client_left(receive))
        try:
            await asyncio.wait({relay, left}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, left):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            await response.aclose()
            if reader is not None:
                reader.finish()
                if reader.usage:
                    self._count(agent, reader)

    def _count(self, agent: str, reader: UsageReader) -> None:
        """Count the answer after it has gone out: a keep-alive connection's next request
        is not held for the store's commit (the budget is checked against what is counted
        when a request starts: answers still being counted are in flight)."""
        task = asyncio.ensure_future(self.hive.spend.record(agent, reader.model, reader.usage))
        self.counting.add(task)
        task.add_done_callback(self._counted)

    def _counted(self, task: asyncio.Future[float]) -> None:
        self.counting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("broker: an answer's usage could not be counted: %s", task.exception())

    async def _relay(self, response: httpx2.Response, send: Send,
                     reader: UsageReader | None) -> None:
        """Each chunk goes to the agent the moment it arrives, and only then to the reader."""
        decoded = "content-encoding" in response.headers
        headers = [(k, v) for k, v in response.headers.raw
                   if k.lower() not in _DROPPED and not (decoded and k.lower() in _ENCODING)]
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": headers})
        async for chunk in response.aiter_bytes():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if reader is not None:
                reader.feed(chunk)
        await send({"type": "http.response.body", "body": b""})


async def _client_left(receive: Receive) -> None:
    """Returns when the agent hangs up (the upstream answer is then abandoned)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process (TUI or serve) owns signals."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def last_port(broker_file: Path, host: str) -> int:
    """The port the previous core of this state dir listened on (0 if unknown)."""
    try:
        data = json.loads(broker_file.read_text("utf-8"))
        return int(data["port"]) if data.get("host") == host else 0
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0


def _unix(path: Path) -> socket.socket:
    """A fresh socket at ``path``, 0666: the containers' uid connects through their
    ``net/`` link (core/forwards.py); the 0700 run dir guards it, the token tells who."""
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o666)
    except OSError:
        sock.close()
        raise
    return sock


class Broker:
    """Run as a hive service: ``hive.add_service("broker", broker.run)``; ``await
    broker.ready()`` gives its TCP URL (also in ``<state>/run/broker.json``)."""

    def __init__(self, hive: Hive, host: str = "127.0.0.1", port: int = 0,
                 credential: Credential | None = None) -> None:
        self.hive = hive
        self.host = host
        self.port = port
        #: the operator's (credential.load_credential); None: API requests are refused
        self.credential = credential
        self.url = ""
        self.socket_path = host_socket(hive.paths, "broker")
        self._ready = asyncio.Event()
        #: what stopped :meth:`run` from listening (``ready`` raises it at once)
        self._start_error: BridgeError | None = None
        self._server: _QuietServer | None = None
        self._serve: asyncio.Task[None] | None = None

    @property
    def broker_file(self) -> Path:
        return self.hive.paths.run / "broker.json"

    async def ready(self, timeout: float = 10.0) -> str:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError as exc:
            raise BridgeError(f"the credential broker did not start within {timeout}s") from exc
        if self._start_error is not None:
            raise self._start_error
        return self.url

    def _listen(self) -> socket.socket:
        previous = last_port(self.broker_file, self.host) if self.port == 0 else 0
        return listen_again(self.host, self.port, previous, "credential broker",
                            "bridge.host; the port is the previous one, else any free one")

    async def run(self) -> None:
        config = self.hive.config.anthropic
        if self.credential is None:
            log.warning("broker: no Anthropic credential (ANTHROPIC_API_KEY, "
                        "CLAUDE_CODE_OAUTH_TOKEN or [anthropic] key_file): claude agents' "
                        "API requests will be refused")
        else:
            log.info("broker: the operator's %s from %s", self.credential.kind,
                     self.credential.source)
        sockets: list[socket.socket] = []
        try:
            sockets.append(self._listen())
            sockets.append(_unix(self.socket_path))
        except (BridgeError, OSError) as exc:
            for sock in sockets:
                sock.close()
            self._start_error = exc if isinstance(exc, BridgeError) else BridgeError(
                f"credential broker: cannot listen on {self.socket_path}: {exc}")
            self._ready.set()
            raise self._start_error from exc
        self._start_error = None
        for sock in sockets:
            sock.listen(1024)
            sock.setblocking(False)
        port = sockets[0].getsockname()[1]
        limits = httpx2.Limits(max_connections=None, max_keepalive_connections=256)
        timeout = httpx2.Timeout(600.0, connect=10.0)
        # built off the loop: loading the system's CA certificates takes a good part of a
        # second, during which the embedded operator's keys must still be answered
        # TCP_NODELAY: a request's headers and body go out as separate writes, which Nagle's
        # algorithm would hold for the server's delayed ACK (40 ms a request)
        transport = await asyncio.to_thread(
            httpx2.AsyncHTTPTransport, limits=limits,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        client = httpx2.AsyncClient(transport=transport, timeout=timeout)
        async with client:
            app = BrokerApp(self.hive, self.credential, config.base_url, client)
            self._server = _QuietServer(uvicorn.Config(
                app, log_config=None, access_log=False, lifespan="off", proxy_headers=False,
                server_header=False, date_header=False,
                timeout_graceful_shutdown=GRACEFUL_S))
            serve = self._serve = asyncio.create_task(self._server.serve(sockets=sockets))
            try:
                while not self._server.started and not serve.done():
                    await asyncio.sleep(0.01)
                if serve.done():
                    serve.result()
                self.url = f"http://{self.host}:{port}"
                write_private_file(self.broker_file,
                                   json.dumps({"host": self.host, "port": port}))
                if self.hive.lifecycle is not None:
                    self.hive.lifecycle.publish_socket("broker")
                    self.hive.lifecycle.publish_broker_url(self.url)
                log.info("credential broker at %s and %s -> %s", self.url, self.socket_path,
                         config.base_url)
                if self.credential is not None:
                    self.hive.broker_spend = self._spent_today
                self._ready.set()
                # shielded: the service cancelled must not cancel uvicorn mid-loop, which
                # would leave its listeners registered with the event loop after they close
                await asyncio.shield(serve)
            finally:
                self.hive.broker_spend = None
                self._server.should_exit = True
                if not serve.done():
                    await asyncio.shield(serve)
                if app.counting:
                    await asyncio.wait(app.counting, timeout=GRACEFUL_S)
                for sock in sockets:
                    sock.close()

    async def _spent_today(self, agent: str, since: float) -> float | None:
        """What this broker counted ``agent`` spending today (``since`` is today's UTC
        midnight: the broker counts by UTC day); None before its first counted answer."""
        day = await self.hive.spend.today(agent)
        return day.cost_usd if day.requests else None

    async def aclose(self) -> None:
        """Stop serving; returns once uvicorn has let the answers in flight end (at most
        ``GRACEFUL_S`` and a little more)."""
        if self._server is not None and self._serve is not None:
            self._server.should_exit = True
            await asyncio.wait({self._serve}, timeout=GRACEFUL_S + 3)
