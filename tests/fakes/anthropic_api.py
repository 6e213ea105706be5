"""A FAKE of the Anthropic Messages API, for driving the real Claude Code CLI in tests.

It follows the public contract the CLI speaks: ``POST /v1/messages`` with ``stream: true``
answers a ``text/event-stream`` of ``message_start``, ``content_block_start`` /
``content_block_delta`` / ``content_block_stop`` per block (``text_delta`` or
``input_json_delta``), ``message_delta`` (stop reason, usage) and ``message_stop``; errors
are an HTTP status with ``{"type": "error", "error": {"type", "message"}}``. A
``tool_use`` block makes the CLI call that tool (an MCP tool is ``mcp__<server>__<tool>``)
and send its result back in the next request.

The test decides each answer with a ``Responder``: called with the request's JSON, it
returns a :class:`Reply`. Every request is kept in ``requests``. Served by uvicorn on
127.0.0.1 inside the test's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


@dataclass(frozen=True)
class Reply:
    """One answer: ``blocks`` (text or tool_use dicts), or an HTTP error, or a hang."""

    blocks: tuple[dict[str, Any], ...] = ()
    status: int = 200
    message: str = ""  # the error message for status >= 400
    hang: bool = False  # never answer (until the client goes away)
    model: str = ""  # the model named in message_start (default: the one asked for)
    delay_s: float = 0.0  # wait this long before answering
    #: a streamed answer stops after message_start until this is set
    gate: asyncio.Event | None = field(default=None, compare=False)


def text(t: str) -> Reply:
    return Reply(blocks=({"type": "text", "text": t},))


def tool_use(name: str, **args: Any) -> Reply:
    return Reply(blocks=({"type": "tool_use", "name": name, "input": args},))


def error(status: int, message: str) -> Reply:
    return Reply(status=status, message=message)


Responder = Callable[[dict[str, Any]], Reply]


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``tool_result`` blocks of the request's last user message."""
    messages = request.get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content") if isinstance(last, dict) else None
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def prompt_text(request: dict[str, Any], *, last: bool = False) -> str:
    """The user text of the request (turn prompts, with the hive's messages in them); with
    ``last``, of its last user message only (this turn's prompt, not the history)."""
    out = []
    messages = [m for m in request.get("messages") or [] if m.get("role") == "user"]
    for m in messages[-1:] if last else messages:
        content = m.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out += [b.get("text", "") for b in content if isinstance(b, dict)
                    and b.get("type") == "text"]
    return "\n".join(out)


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass
class FakeMessagesApi:
    responder: Responder
    #: when set, the one credential accepted (x-api-key, or an OAuth ``Authorization:
    #: Bearer`` with the oauth beta flag); anything else is a 401, as the real API answers
    credential: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
        ])

    async def count_tokens(self, request: Request) -> Response:
        return JSONResponse({"input_tokens": 100})

    def authenticated(self, headers: dict[str, str]) -> bool:
        if not self.credential:
            return True
        if headers.get("x-api-key") == self.credential:
            return True
        return headers.get("authorization") == f"Bearer {self.credential}" and \
            "oauth-2025-04-20" in headers.get("anthropic-beta", "")

    async def messages(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.headers.append(headers)
        reply = self.responder(body)
        if not self.authenticated(headers):
            reply = Reply(status=401, message="invalid x-api-key")
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.hang:
            while not await request.is_disconnected():
                await asyncio.sleep(0.1)
            return Response(status_code=499)
        if reply.status >= 400:
            return JSONResponse({"type": "error", "error": {
                "type": ERROR_TYPES.get(reply.status, "api_error"),
                "message": reply.message}}, status_code=reply.status,
                headers={"x-should-retry": "false"})
        model = reply.model or str(body.get("model") or "claude-fake")
        blocks = [self._with_id(b) for b in reply.blocks]
        if not body.get("stream"):
            return JSONResponse(self._message(model, blocks))
        return StreamingResponse(self._stream(model, blocks, reply.gate),
                                 media_type="text/event-stream")

    def _with_id(self, block: dict[str, Any]) -> dict[str, Any]:
        if block["type"] == "tool_use":
            return {**block, "id": f"toolu_fake{next(self._ids):06d}"}
        return block

    def _message(self, model: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        return {"id": f"msg_fake{next(self._ids):06d}", "type": "message", "role": "assistant",
                "model": model, "content": blocks, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": 120, "output_tokens": 30}}

    async def _stream(self, model: str, blocks: list[dict[str, Any]],
                      gate: asyncio.Event | None = None) -> AsyncIterator[bytes]:
        whole = self._message(model, blocks)
        start = {**whole, "content": [], "stop_reason": None,
                 "usage": {"input_tokens": 120, "output_tokens": 1}}
        yield _sse("message_start", {"type": "message_start", "message": start})
        if gate is not None:
            await gate.wait()
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                yield _sse("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}})
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                yield _sse("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"],
                                      "name": block["name"], "input": {}}})
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            yield _sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                               "delta": delta})
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
        yield _sse("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": whole["stop_reason"],
                                               "stop_sequence": None},
                                     "usage": {"output_tokens": 30}})
        yield _sse("message_stop", {"type": "message_stop"})


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield  # the test runner owns signals


@contextlib.asynccontextmanager
async def serve_fake_api(responder: Responder, credential: str = ""
                         ) -> AsyncIterator[FakeMessagesApi]:
    """Serve a :class:`FakeMessagesApi` on a free loopback port while the block runs."""
    api = FakeMessagesApi(responder, credential)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    api.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _Server(uvicorn.Config(api.app(), log_config=None, access_log=False,
                                    lifespan="off", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield api
    finally:
        server.should_exit = True
        await task
        sock.close()
