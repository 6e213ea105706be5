"""The control client: HiveAPI across the control socket (used by `attach` and `ctl`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hivetui.control.protocol import MAX_LINE, encode
from hivetui.control.sessions import SESSION_TOKEN_ENV
from hivetui.core.api import Series
from hivetui.core.config import ControlConfig
from hivetui.core.errors import ControlError, error_from_dict
from hivetui.core.events import Event, event_from_dict
from hivetui.core.views import AgentView, Approval, AuditEntry, Draft, Question

if TYPE_CHECKING:
    from hivetui.core.bus import BusMessage

log = logging.getLogger(__name__)

_END = object()
DEFAULT_TIMEOUT_S: float = ControlConfig.model_fields["timeout_s"].default


class ControlClient:
    """``async with await ControlClient.connect(path) as api: ...``"""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._reader = reader
        self._timeout_s = timeout_s
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._streams: dict[int, asyncio.Queue[Any]] = {}
        self._pump = asyncio.create_task(self._read_loop())
        self._operator = ""
        self._read_only = False

    @classmethod
    async def connect(cls, path: Path, session_token: str | None = None,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> ControlClient:
        """Connect and say hello; every request then waits at most ``timeout_s`` seconds."""
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE)
        except TimeoutError:
            raise ControlError(f"could not connect to {path} within {timeout_s:g}s "
                               "(control.timeout_s, ctl --timeout)") from None
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ControlError(
                f"no hive is serving {path} ({exc.strerror}); start one with `hivetui serve`"
            ) from exc
        except PermissionError as exc:
            raise ControlError(f"not allowed to open {path}: the control socket is for the "
                               "hive's operator account only") from exc
        client = cls(reader, writer, timeout_s)
        token = session_token if session_token is not None else os.environ.get(SESSION_TOKEN_ENV)
        try:
            hello = await client._call("hello", {"session_token": token} if token else {})
        except BaseException:
            await client.aclose()
            raise
        client._operator = hello["operator"]
        client._read_only = bool(hello["read_only"])
        return client

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        error: BaseException = ControlError("the hive closed the control connection")
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                rid = msg.get("id")
                if rid in self._streams:
                    queue = self._streams[rid]
                    if "item" in msg:
                        queue.put_nowait(msg["item"])
                    elif msg.get("end"):
                        queue.put_nowait(_END)
                    elif msg.get("ok") is False:
                        queue.put_nowait(error_from_dict(msg["error"]))
                    continue
                fut = self._pending.pop(rid, None)
                if fut is None or fut.done():
                    if msg.get("ok") is False:
                        log.error("control: %s", msg.get("error"))
                    continue
                if msg.get("ok"):
                    fut.set_result(msg.get("result"))
                else:
                    fut.set_exception(error_from_dict(msg["error"]))
        except (ConnectionError, ValueError) as exc:
            error = ControlError(f"control connection lost: {exc}")
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(error)
            self._pending.clear()
            for queue in self._streams.values():
                queue.put_nowait(error)

    async def _call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        if self._pump.done():
            raise ControlError("the control connection is closed")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            async with asyncio.timeout(self._timeout_s):
                self._writer.write(encode({"id": rid, "op": op, "args": args or {}}))
                await self._writer.drain()
                return await fut
        except TimeoutError:
            raise ControlError(f"the hive did not answer {op} within {self._timeout_s:g}s "
                               "(control.timeout_s, ctl --timeout); it may still carry it "
                               "out") from None
        finally:
            self._pending.pop(rid, None)

    async def _stream(self, op: str, args: dict[str, Any]) -> AsyncIterator[Any]:
        rid = next(self._ids)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._streams[rid] = queue
        self._writer.write(encode({"id": rid, "op": op, "args": args}))
        await self._writer.drain()
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._streams.pop(rid, None)
            if not self._pump.done():
                with contextlib.suppress(ConnectionError):
                    self._writer.write(encode({"id": None, "op": "cancel",
                                               "args": {"stream": rid}}))

    # --- HiveAPI -----------------------------------------------------------------
    @property
    def operator(self) -> str:
        return self._operator

    @property
    def read_only(self) -> bool:
        return self._read_only

    async def agents(self) -> list[AgentView]:
        return [AgentView.from_dict(d) for d in await self._call("agents")]

    async def agent(self, name: str) -> AgentView:
        return AgentView.from_dict(await self._call("agent", {"name": name}))

    async def spawn(self, name: str, runtime: str | None = None, manager: bool = False
                    ) -> AgentView:
        return AgentView.from_dict(await self._call(
            "spawn", {"name": name, "runtime": runtime, "manager": manager}))

    async def start(self, name: str) -> None:
        await self._call("start", {"name": name})

    async def stop(self, name: str) -> None:
        await self._call("stop", {"name": name})

    async def restart(self, name: str) -> None:
        await self._call("restart", {"name": name})

    async def destroy(self, name: str) -> None:
        await self._call("destroy", {"name": name})

    async def rebuild(self, name: str) -> None:
        await self._call("rebuild", {"name": name})

    async def set_model(self, name: str, model: str, persist: bool = False) -> AgentView:
        return AgentView.from_dict(await self._call(
            "set_model", {"name": name, "model": model, "persist": persist}))

    async def logs(self, name: str, lines: int = 200) -> list[str]:
        return list(await self._call("logs", {"name": name, "lines": lines}))

    async def follow_logs(self, name: str) -> AsyncIterator[str]:
        async for item in self._stream("follow_logs", {"name": name}):
            yield str(item)

    async def shell_argv(self, name: str) -> list[str]:
        return list(await self._call("shell_argv", {"name": name}))

    async def send(self, name: str, text: str) -> BusMessage:
        from hivetui.core.bus import BusMessage  # the bus module (sqlite) only once needed

        return BusMessage.from_dict(await self._call("send", {"name": name, "text": text}))

    async def inbox(self, name: str, limit: int = 100, dead: bool = False) -> list[BusMessage]:
        from hivetui.core.bus import BusMessage

        return [BusMessage.from_dict(d) for d in await self._call(
            "inbox", {"name": name, "limit": limit, "dead": dead})]

    async def approvals(self, include_resolved: bool = False) -> list[Approval]:
        return [Approval.from_dict(d) for d in await self._call(
            "approvals", {"include_resolved": include_resolved})]

    async def approve(self, approval_id: int) -> Approval:
        return Approval.from_dict(await self._call("approve", {"approval_id": approval_id}))

    async def deny(self, approval_id: int, reason: str) -> Approval:
        return Approval.from_dict(await self._call(
            "deny", {"approval_id": approval_id, "reason": reason}))

    async def questions(self, include_answered: bool = False) -> list[Question]:
        return [Question.from_dict(d) for d in await self._call(
            "questions", {"include_answered": include_answered})]

    async def answer(self, question_id: int, text: str) -> Question:
        return Question.from_dict(await self._call(
            "answer", {"question_id": question_id, "text": text}))

    async def drafts(self) -> list[Draft]:
        return [Draft.from_dict(d) for d in await self._call("drafts")]

    async def kept(self) -> list[str]:
        return list(await self._call("kept"))

    async def revive(self, name: str) -> AgentView:
        return AgentView.from_dict(await self._call("revive", {"name": name}))

    async def purge(self, name: str, confirm: str) -> None:
        await self._call("purge", {"name": name, "confirm": confirm})

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        return [AuditEntry.from_dict(d) for d in await self._call("audit", {"limit": limit})]

    async def stats(self, name: str, since_s: float = 3600.0,
                    keys: list[str] | None = None, max_points: int | None = 600) -> Series:
        raw = await self._call("stats", {"name": name, "since_s": since_s, "keys": keys,
                                         "max_points": max_points})
        return {k: [(float(t), float(v)) for t, v in points] for k, points in raw.items()}

    async def recent_events(self, limit: int = 50) -> list[Event]:
        items = await self._call("recent_events", {"limit": limit})
        return [ev for ev in map(_decoded_event, items) if ev is not None]

    async def events(self) -> AsyncIterator[Event]:
        async for item in self._stream("events", {}):
            ev = _decoded_event(item)
            if ev is not None:
                yield ev


def _decoded_event(item: dict[str, Any]) -> Event | None:
    """The event a core sent; None (logged) for one this client does not know."""
    try:
        return event_from_dict(item)
    except (ValueError, TypeError):
        log.warning("control: unknown event %r", item.get("event"))
        return None
