"""The harness's MCP client of the hive bridge: typed calls over streamable HTTP (MCP 2026-07-28).

Identity is the agent's bearer token; every call goes through the bridge, never around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

import httpx2

from hivetui import __version__
from hivetui.core.errors import HarnessError
from hivetui.harness import wire

log = logging.getLogger(__name__)

SEND_ATTEMPTS = 4  # a send whose reply was lost is tried again, with the same key
SEND_RETRY_S = 0.5  # wait before attempt n+1: n times this

Status = Literal["idle", "in_turn", "waiting_operator"]
Outcome = Literal["ok", "compact_retry", "failure"]


class BridgeUnreachable(HarnessError):
    """The bridge could not be reached (down, restarting, wrong address)."""

    title = "Bridge unreachable"


@dataclass(frozen=True)
class InboxMessage:
    id: int
    sender: str
    recipient: str
    kind: str
    body: str
    ts: float = 0.0
    attempts: int = 1  # turns this message was handed to, this one included

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InboxMessage:
        try:
            return cls(id=int(data["id"]), sender=str(data["sender"]),
                       recipient=str(data.get("recipient", "")), kind=str(data["kind"]),
                       body=str(data["body"]), ts=float(data.get("ts") or 0.0),
                       attempts=int(data.get("attempts") or 1))
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
    messages: tuple[int, ...] = ()  # the ids the turn was given
    failure: str = ""  # a failed turn's reason, in the runtime's own words

    def to_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "outcome": self.outcome, "duration_s": round(self.duration_s, 3),
            "tool_calls": dict(self.tool_calls), "cost_usd": self.cost_usd,
            "sent": dict(self.sent), "received": dict(self.received),
            "notes_bytes": self.notes_bytes, "detail": self.detail,
        }
        if self.outcome == "failure":
            args["messages"] = list(self.messages)
            args["failure"] = self.failure
        return args


class HarnessApi(Protocol):
    """What the turn loop needs from the bridge (the real client or a recording fake)."""

    async def recv(self, wait_s: float = 0.0, max: int = 20, ack: int | None = None
                   ) -> list[InboxMessage]: ...
    async def send(self, to: str, body: str) -> dict[str, Any]: ...
    async def ack(self, upto: int) -> None: ...
    async def set_status(self, status: Status, detail: str = "") -> None: ...
    async def report_turn(self, report: TurnReport) -> None: ...
    async def get_settings(self) -> dict[str, Any]: ...
    async def transcript(self, turn_key: str, events: list[dict[str, Any]]) -> None: ...


def _structured(name: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """The dict a tool returned: structured content, else JSON in the first text block."""
    data = result.get("structuredContent")
    if data is None:
        for block in _blocks(result):
            text = block.get("text")
            if not isinstance(text, str):
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


def _blocks(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = result.get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _error_text(result: Mapping[str, Any]) -> str:
    texts = [b.get("text") for b in _blocks(result)]
    return " ".join(t for t in texts if isinstance(t, str) and t).strip() or (
        "tool reported an error without text")


class HiveClient:
    """An MCP client of the bridge over one keep-alive HTTP connection pool.

    Use ``async with HiveClient(url, token) as client:``; ``reconnect()`` opens a fresh
    pool (re-reading ``url_source``) after the bridge went away. The wire is MCP
    2026-07-28's single-exchange HTTP (``wire.py``): no handshake, no session, so a call
    needs nothing from earlier calls but the pool.
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
        self._http: httpx2.AsyncClient | None = None
        self._target = httpx2.URL(url)  # parsed once: ~0.04 ms of CPU per call otherwise
        self._envelope = wire.Envelope("hivetui-harness", __version__)

    async def __aenter__(self) -> HiveClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Open the connection pool and ask ``server/discover`` whether we speak alike.

        Raises ``BridgeUnreachable`` (retry later) or ``HarnessError`` (a refused token,
        a bridge that does not speak protocol ``wire.PROTOCOL_VERSION``).
        """
        if self._http is not None:
            return
        self._target = httpx2.URL(self.url)
        self._http = httpx2.AsyncClient(
            headers={"authorization": f"Bearer {self._token}"},
            timeout=httpx2.Timeout(self._timeout_s, read=self._max_wait_s + self._timeout_s))
        try:
            reply = await self._exchange("connect", "server/discover", {}, None,
                                         self._timeout_s)
            self._check_discover(reply)
        except BaseException:
            await self.aclose()
            raise
        log.info("connected to the bridge at %s", self.url)

    def _check_discover(self, reply: dict[str, Any]) -> None:
        error = reply.get("error")
        if isinstance(error, dict):
            data = error.get("data")
            if error.get("code") == wire.UNSUPPORTED_PROTOCOL_VERSION and isinstance(data, dict):
                raise self._version_error(data.get("supported"))
            raise HarnessError(f"the bridge at {self.url} refused server/discover: "
                               f"{error.get('message')} (code {error.get('code')}): it does "
                               f"not speak MCP {wire.PROTOCOL_VERSION} as this harness does")
        versions = reply["result"].get("supportedVersions")
        if not isinstance(versions, list) or wire.PROTOCOL_VERSION not in versions:
            raise self._version_error(versions)

    def _version_error(self, supported: Any) -> HarnessError:
        return HarnessError(f"the bridge at {self.url} speaks MCP protocol versions "
                            f"{supported!r}; this harness speaks only {wire.PROTOCOL_VERSION}: "
                            "run the harness that ships with the core")

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def reconnect(self) -> None:
        await self.aclose()
        if self._url_source is not None:
            url = self._url_source()
            if url != self.url:
                log.info("the bridge moved: %s -> %s", self.url, url)
                self.url = url
        await self.connect()

    async def _exchange(self, what: str, method: str, params: Mapping[str, Any],
                        name: str | None, timeout_s: float) -> dict[str, Any]:
        """POST one request; the JSON-RPC response (``result`` or ``error``) to it.

        Only a refused token (``HarnessError``) and a JSON-RPC error answer below HTTP 500
        are final; anything else that goes wrong is ``BridgeUnreachable``.
        """
        http = self._http
        if http is None:
            raise BridgeUnreachable(f"no session with the bridge at {self.url} (call {what})")
        request_id, headers, body = self._envelope.request(method, params, name)
        status = 0
        try:
            async with asyncio.timeout(timeout_s):
                request = http.build_request("POST", self._target, headers=headers, content=body,
                                             timeout=timeout_s)
                response = await http.send(request, stream=True)
                try:
                    status = response.status_code
                    if status == 401:
                        raise HarnessError(
                            f"the bridge at {self.url} refused this agent's bearer token "
                            f"(HTTP 401) during {what}: the token in the run dir is not "
                            "valid for this hive")
                    reply = await wire.read_reply(response, request_id)
                finally:
                    await response.aclose()
        except wire.WireError as exc:
            reason = f"HTTP {status}" if status >= 400 else f"bad answer: {exc}"
            raise self._unreachable(what, reason) from exc
        except TimeoutError as exc:
            raise self._unreachable(what, f"no answer within {timeout_s:g}s") from exc
        except (httpx2.HTTPError, OSError) as exc:
            raise self._unreachable(what, f"{type(exc).__name__}: {exc}") from exc
        if status >= 500 or (status >= 400 and "error" not in reply):
            raise self._unreachable(what, f"HTTP {status}")
        return reply

    def _unreachable(self, what: str, reason: str) -> BridgeUnreachable:
        return BridgeUnreachable(f"bridge at {self.url} unreachable during {what} ({reason})")

    async def call(self, tool: str, args: Mapping[str, Any] | None = None,
                   timeout_s: float | None = None) -> dict[str, Any]:
        """Call a bridge tool; tool errors and refusals raise ``HarnessError``."""
        reply = await self._exchange(tool, "tools/call",
                                     {"name": tool, "arguments": dict(args or {})}, tool,
                                     timeout_s or self._timeout_s)
        error = reply.get("error")
        if isinstance(error, dict):
            raise HarnessError(f"bridge refused {tool}: {error.get('message')}")
        result: dict[str, Any] = reply["result"]
        if result.get("isError"):
            raise HarnessError(f"bridge tool {tool} failed: {_error_text(result)}")
        return _structured(tool, result)

    # --- every agent ------------------------------------------------------------
    async def send(self, to: str, body: str) -> dict[str, Any]:
        """Send once, even across lost replies: every attempt carries the same idempotency
        key, so a retry of a send the bridge did commit returns that message again."""
        args = {"to": to, "body": body, "idempotency_key": uuid.uuid4().hex}
        attempt = 1
        while True:
            try:
                return await self.call("send", args)
            except BridgeUnreachable as exc:
                if attempt >= SEND_ATTEMPTS:
                    raise
                log.warning("%s; retrying the send", exc)
            await asyncio.sleep(SEND_RETRY_S * attempt)
            attempt += 1
            with contextlib.suppress(BridgeUnreachable):
                await self.reconnect()

    async def recv(self, wait_s: float = 0.0, max: int = 20, ack: int | None = None
                   ) -> list[InboxMessage]:
        args: dict[str, Any] = {"wait_s": wait_s, "max": max}
        if ack is not None:
            args["ack"] = ack
        data = await self.call("recv", args, timeout_s=wait_s + self._timeout_s)
        raw = data.get("messages", [])
        if not isinstance(raw, list):
            raise HarnessError(f"recv returned {data!r}: 'messages' must be a list")
        return [InboxMessage.from_dict(m) for m in raw]

    async def ack(self, upto: int) -> None:
        """Messages up to ``upto`` were handled by a turn that ended ok."""
        await self.call("ack", {"upto": upto})

    async def set_status(self, status: Status, detail: str = "") -> None:
        await self.call("set_status", {"status": status, "detail": detail})

    async def report_turn(self, report: TurnReport) -> None:
        await self.call("report_turn", report.to_args())

    async def get_settings(self) -> dict[str, Any]:
        return await self.call("get_settings")

    async def transcript(self, turn_key: str, events: list[dict[str, Any]]) -> None:
        """A batch of the current turn's transcript events (``harness/transcript.py``)."""
        await self.call("transcript", {"turn_key": turn_key, "events": events})

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
