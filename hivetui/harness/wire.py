"""The MCP 2026-07-28 single-exchange HTTP wire, as the harness speaks it.

One POST carries one JSON-RPC request whose ``params._meta`` holds the per-request envelope
(protocol version, client info, client capabilities); the ``MCP-Protocol-Version``,
``Mcp-Method`` and ``Mcp-Name`` headers repeat what the body says. The answer is either an
``application/json`` JSON-RPC response or a ``text/event-stream`` of ``message`` events:
notifications (no ``id``), then the response whose ``id`` is the request's. There is no
handshake and no session. Server side: ``mcp/server/_streamable_http_modern.py``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

import httpx2

PROTOCOL_VERSION = "2026-07-28"
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META_KEY = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities"
UNSUPPORTED_PROTOCOL_VERSION = -32022  # JSON-RPC code: data = {"supported": [...], ...}

JSON = "application/json"
SSE = "text/event-stream"
ACCEPT = f"{JSON}, {SSE}"

# what survives an HTTP field verbatim (the SDK's ``encode_header_value`` rule)
_HEADER_SAFE = re.compile(r"[\x20-\x7e]*")
_B64_SENTINEL = re.compile(r"=\?base64\?.*\?=")


class WireError(Exception):
    """The answer was not a JSON-RPC response to the request (malformed, wrong type)."""


def encode_header_value(value: str) -> str:
    """``value`` verbatim if it is plain printable ASCII, else the ``=?base64?..?=`` form."""
    if (_HEADER_SAFE.fullmatch(value) and value == value.strip()
            and not _B64_SENTINEL.fullmatch(value)):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


class Envelope:
    """Builds requests for one client: fixed ``_meta`` and headers, ids that increase."""

    def __init__(self, client_name: str, client_version: str) -> None:
        self._meta = {
            PROTOCOL_VERSION_META_KEY: PROTOCOL_VERSION,
            CLIENT_INFO_META_KEY: {"name": client_name, "version": client_version},
            CLIENT_CAPABILITIES_META_KEY: {},
        }
        self._last_id = 0

    def request(self, method: str, params: Mapping[str, Any], name: str | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        """``(id, headers, body)`` for one request; ``name`` is the Mcp-Name (tools/call)."""
        self._last_id += 1
        headers = {"accept": ACCEPT, "content-type": JSON,
                   "mcp-protocol-version": PROTOCOL_VERSION, "mcp-method": method}
        if name is not None:
            headers["mcp-name"] = encode_header_value(name)
        body = {"jsonrpc": "2.0", "id": self._last_id, "method": method,
                "params": {**params, "_meta": self._meta}}
        return self._last_id, headers, json.dumps(body, separators=(",", ":")).encode()


def content_type(response: httpx2.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def parse_message(raw: str | bytes, request_id: int) -> dict[str, Any] | None:
    """The JSON-RPC response in ``raw`` for ``request_id``; ``None`` for a notification.

    An error answer whose id is null (the server could not read the request) counts as
    the answer too.
    """
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise WireError(f"not a JSON-RPC 2.0 message: {str(raw)[:200]!r}")
    if "id" not in message:
        return None  # a notification (progress, log): nothing the harness acts on
    if message["id"] == request_id or (message["id"] is None and "error" in message):
        if not isinstance(message.get("result"), dict) and not isinstance(
                message.get("error"), dict):
            raise WireError(f"a response with neither result nor error: {str(raw)[:200]!r}")
        return message
    raise WireError(f"a response to request {message['id']!r}, expected {request_id}")


async def read_reply(response: httpx2.Response, request_id: int) -> dict[str, Any]:
    """Read the JSON-RPC response to ``request_id`` from a streamed HTTP answer."""
    kind = content_type(response)
    if kind == JSON:
        message = parse_message(await response.aread(), request_id)
        if message is None:
            raise WireError("the JSON answer is a notification, not the response")
        return message
    if kind == SSE:
        async for event in httpx2.EventSource(response):
            if event.event != "message" or not event.data:
                continue
            message = parse_message(event.data, request_id)
            if message is not None:
                return message
        raise WireError("the event stream ended without the response")
    raise WireError(f"unexpected content type {kind or 'none'!r}")
