"""The harness's MCP client of the hive bridge: typed calls over streamable HTTP.

Identity is the agent's bearer token; every call goes through the bridge, never around it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from hivetui.core.errors import HarnessError

log = logging.getLogger(__name__)

Status = Literal["idle", "in_turn", "waiting_operator"]
Outcome = Literal["ok", "compact_retry", "failure"]
MessageKind = Literal["peer", "operator", "manager", "system"]

CONNECTION_CLOSED = -32000  # JSON-RPC code the SDK uses when the transport went away
INVALID_REQUEST = -32600  # the SDK's "Session terminated" (HTTP 404: the bridge restarted)


class BridgeUnreachable(HarnessError):
    """The bridge could not be reached (down, restarting, wrong address)."""

    title = "Bridge unreachable"


@dataclass(frozen=True)
class Message:
    id: int
    sender: str
    recipient: str
    kind: str
    body: str
    ts: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        try:
            return cls(id=int(data["id"]), sender=str(data["sender"]),
                       recipient=str(data.get("recipient", "")), kind=str(data["kind"]),
                       body=str(data["body"]), ts=float(data.get("ts") or 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise HarnessError(f"recv returned a malformed message {dict(data)!r}: {exc}") from exc


@dataclass(frozen=True)
class TurnReport:
    """What ``report_turn`` carries; the core writes it to telemetry."""

    outcome: Outcome
    duration_s: float
    tool_calls: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    sent: dict[str, int] = field(default_factory=dict)  # by kind: peer/operator/manager/system
    received: dict[str, int] = field(default_factory=dict)  # by kind
    notes_bytes: int = 0
    detail: str = ""

    def to_args(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "duration_s": round(self.duration_s, 3),
            "tool_calls": dict(self.tool_calls), "cost_usd": self.cost_usd,
            "sent": dict(self.sent), "received": dict(self.received),
            "notes_bytes": self.notes_bytes, "detail": self.detail,
        }


class HiveApi(Protocol):
    """What the turn loop needs from the bridge (the real client or a recording fake)."""

    async def recv(self, wait_s: float = 0.0, max: int = 20, ack: int | None = None
                   ) -> list[Message]: ...
    async def send(self, to: str, body: str) -> dict[str, Any]: ...
    async def set_status(self, status: Status, detail: str = "") -> None: ...
    async def report_turn(self, report: TurnReport) -> None: ...
    async def get_settings(self) -> dict[str, Any]: ...


def _structured(name: str, result: Any) -> dict[str, Any]:
    """The dict a tool returned: structured content, else JSON in the first text block."""
    data = result.structured_content
    if data is None:
        for block in result.content:
            text = getattr(block, "text", None)
            if text is None:
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = {"result": text}
            break
    if data is None:
        return {}
    if not isinstance(data, dict):
        return {"result": data}
    return data


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _error_text(result: Any) -> str:
    texts = [getattr(b, "text", "") for b in result.content]
    return " ".join(t for t in texts if t).strip() or "tool reported an error without text"


class HiveClient:
    """A thin async wrapper over one MCP client session with the bridge.

    Use ``async with HiveClient(url, token) as client:``; ``reconnect()`` opens a fresh
    session after the bridge went away.
    """

    def __init__(self, url: str, token: str, *, timeout_s: float = 30.0,
                 max_wait_s: float = 300.0, url_source: Callable[[], str] | None = None
                 ) -> None:
        if not url.startswith(("http://", "https://")):
            raise HarnessError(f"bridge url {url!r} must be an http(s) URL")
        if not token or any(c.isspace() for c in token):
            raise HarnessError("the bearer token must be a non-empty string without spaces")
        self.url = url
        self._token = token
        self._timeout_s = timeout_s
        self._max_wait_s = max_wait_s
        self._url_source = url_source  # re-read on reconnect: a restarted core may move
        self._owner: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._client: Client | None = None
        self._last_status = 0  # HTTP status of the last response (the SDK hides it)

    async def _on_response(self, response: httpx2.Response) -> None:
        self._last_status = response.status_code

    def _http_failure(self, what: str, exc: BaseException) -> HarnessError:
        """Classify a failed exchange: a refused token is final, the rest is retryable."""
        status = self._last_status
        if status == 401:
            return HarnessError(f"the bridge at {self.url} refused this agent's bearer token "
                                f"(HTTP 401) during {what}: the token in the run dir is not "
                                "valid for this hive")
        reason = f"HTTP {status}" if status >= 400 else f"{type(exc).__name__}: {exc}"
        return BridgeUnreachable(f"bridge at {self.url} unreachable during {what} ({reason})")

    async def __aenter__(self) -> HiveClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Open the session in its own owner task.

        The SDK's transport runs an anyio task group whose cancel scope fires when the
        connection dies; entered from the caller's task it would cancel the caller. In an
        owner task it only ends that task, and pending calls fail as ``BridgeUnreachable``.
        """
        if self._owner is not None and not self._owner.done():
            return
        self._last_status = 0
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing = asyncio.Event()
        self._owner = asyncio.create_task(self._own(opened, self._closing),
                                          name=f"hive-mcp-session {self.url}")
        try:
            await opened
        except Exception as exc:
            await self._end_owner()
            raise self._http_failure("connect", _leaf(exc)) from exc
        except BaseException:
            await asyncio.shield(self._end_owner())
            raise
        log.info("connected to the bridge at %s", self.url)

    async def _own(self, opened: asyncio.Future[None], closing: asyncio.Event) -> None:
        try:
            async with httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=httpx2.Timeout(self._timeout_s, read=self._max_wait_s + self._timeout_s),
                event_hooks={"response": [self._on_response]},
            ) as http, Client(streamable_http_client(self.url, http_client=http)) as client:
                self._client = client
                opened.set_result(None)
                await closing.wait()
        except BaseException as exc:
            if not opened.done():
                opened.set_exception(exc if isinstance(exc, Exception)
                                     else BridgeUnreachable(f"session task ended: {exc!r}"))
            elif not closing.is_set():
                log.warning("the bridge session at %s ended: %r", self.url, _leaf(exc))
            if not isinstance(exc, Exception | asyncio.CancelledError):
                raise
        finally:
            self._client = None

    async def _end_owner(self) -> None:
        owner, self._owner = self._owner, None
        if owner is None:
            return
        self._closing.set()
        try:
            await asyncio.wait_for(owner, self._timeout_s)
        except TimeoutError:
            log.warning("the bridge session at %s did not close in %.0fs", self.url,
                        self._timeout_s)

    async def aclose(self) -> None:
        await self._end_owner()

    async def reconnect(self) -> None:
        await self.aclose()
        if self._url_source is not None:
            url = self._url_source()
            if url != self.url:
                log.info("the bridge moved: %s -> %s", self.url, url)
                self.url = url
        await self.connect()

    async def call(self, tool: str, args: Mapping[str, Any] | None = None,
                   timeout_s: float | None = None) -> dict[str, Any]:
        """Call a bridge tool; tool errors and refusals raise ``HarnessError``."""
        client, owner = self._client, self._owner
        if client is None or owner is None or owner.done():
            raise BridgeUnreachable(f"no session with the bridge at {self.url} (call {tool})")
        self._last_status = 0
        pending = asyncio.ensure_future(client.call_tool(
            tool, dict(args or {}), read_timeout_seconds=timeout_s or self._timeout_s))
        try:
            await asyncio.wait([pending, owner], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
        if pending.cancelled():
            raise self._http_failure(tool, BridgeUnreachable("the session ended"))
        try:
            result = pending.result()
        except MCPError as exc:
            # the SDK turns an HTTP error status into INTERNAL_ERROR (404: "Session
            # terminated"): the status the hook saw tells those from a tool's own error
            transport = exc.code == CONNECTION_CLOSED or self._last_status >= 400 or (
                exc.code == INVALID_REQUEST and "Session terminated" in exc.message)
            if transport:
                raise self._http_failure(tool, exc) from exc
            raise HarnessError(f"bridge refused {tool}: {exc.message}") from exc
        except (httpx2.HTTPError, OSError) as exc:
            raise self._http_failure(tool, exc) from exc
        if result.is_error:
            raise HarnessError(f"bridge tool {tool} failed: {_error_text(result)}")
        return _structured(tool, result)

    # --- every agent ------------------------------------------------------------
    async def send(self, to: str, body: str) -> dict[str, Any]:
        return await self.call("send", {"to": to, "body": body})

    async def recv(self, wait_s: float = 0.0, max: int = 20, ack: int | None = None
                   ) -> list[Message]:
        args: dict[str, Any] = {"wait_s": wait_s, "max": max}
        if ack is not None:
            args["ack"] = ack
        data = await self.call("recv", args, timeout_s=wait_s + self._timeout_s)
        raw = data.get("messages", [])
        if not isinstance(raw, list):
            raise HarnessError(f"recv returned {data!r}: 'messages' must be a list")
        return [Message.from_dict(m) for m in raw]

    async def set_status(self, status: Status, detail: str = "") -> None:
        await self.call("set_status", {"status": status, "detail": detail})

    async def report_turn(self, report: TurnReport) -> None:
        await self.call("report_turn", report.to_args())

    async def get_settings(self) -> dict[str, Any]:
        return await self.call("get_settings")

    # --- manager only -------------------------------------------------------------
    async def list_agents(self) -> list[dict[str, Any]]:
        data = await self.call("list_agents")
        agents = data.get("agents", data.get("result", []))
        if not isinstance(agents, list):
            raise HarnessError(f"list_agents returned {data!r}: expected a list of agents")
        return [a for a in agents if isinstance(a, dict)]

    async def request_spawn(self, name: str, runtime: str | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {"name": name}
        if runtime:
            args["runtime"] = runtime
        return await self.call("request_spawn", args)

    async def request_spawn_draft(self, name: str) -> dict[str, Any]:
        return await self.call("request_spawn_draft", {"name": name})

    async def request_spawn_commit(self, name: str, commit: str) -> dict[str, Any]:
        return await self.call("request_spawn_commit", {"name": name, "commit": commit})

    async def request_apply_commit(self, agent: str, commit: str) -> dict[str, Any]:
        return await self.call("request_apply_commit", {"agent": agent, "commit": commit})

    async def start(self, agent: str) -> dict[str, Any]:
        return await self.call("start", {"agent": agent})

    async def stop(self, agent: str) -> dict[str, Any]:
        return await self.call("stop", {"agent": agent})

    async def restart(self, agent: str) -> dict[str, Any]:
        return await self.call("restart", {"agent": agent})

    async def kill(self, agent: str) -> dict[str, Any]:
        return await self.call("kill", {"agent": agent})

    async def ask_operator(self, question: str,
                           options: list[str] | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {"question": question}
        if options:
            args["options"] = list(options)
        return await self.call("ask_operator", args)

    async def get_logs(self, agent: str, lines: int = 50) -> dict[str, Any]:
        return await self.call("get_logs", {"agent": agent, "lines": lines})
