"""The control server: operators only, on a 0600 unix socket inside a 0700 directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hivetui.control.peer import operator_uid
from hivetui.control.protocol import MAX_LINE, OPS, STREAM_OPS, encode, to_jsonable
from hivetui.control.sessions import SessionTokens
from hivetui.core.errors import ControlError, HiveError
from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession

log = logging.getLogger(__name__)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def socket_dir(path: Path) -> None:
    """The socket's directory: made 0700 when missing; an existing one keeps its mode
    (``--socket /tmp/ctl.sock`` must never make /tmp private to this user). The socket
    itself is 0600 either way."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True)


class ControlServer:
    """Serve the operator API (``OperatorSession``) on ``path``; a hive service."""

    def __init__(self, hive: Hive, path: Path | None = None,
                 sessions: SessionTokens | None = None) -> None:
        self.hive = hive
        self.path = path or hive.paths.control_socket
        self.sessions = sessions if sessions is not None else SessionTokens()
        self._server: asyncio.Server | None = None
        self._ready = asyncio.Event()
        self._conns: set[asyncio.Task[None]] = set()

    async def ready(self, timeout: float = 10.0) -> Path:
        await asyncio.wait_for(self._ready.wait(), timeout)
        return self.path

    async def run(self) -> None:
        socket_dir(self.path.parent)
        if self.path.exists() or self.path.is_symlink():
            if await self._alive():
                raise ControlError(f"another hive already serves {self.path}; stop it first")
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._handle, path=str(self.path),
                                                           limit=MAX_LINE)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        log.info("control socket at %s", self.path)
        self._ready.set()
        try:
            async with self._server:
                await self._server.serve_forever()
        finally:
            for task in list(self._conns):
                task.cancel()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _alive(self) -> bool:
        try:
            _r, w = await asyncio.open_unix_connection(str(self.path))
        except OSError:
            return False
        w.close()
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            try:
                uid = operator_uid(writer.get_extra_info("socket"))
            except ControlError as exc:
                log.warning("control: refused a connection: %s", exc)
                writer.write(encode({"id": None, "ok": False, "error": exc.to_dict()}))
                await writer.drain()
                return
            conn = _Connection(self, reader, writer, Operator(f"local:{_user(uid)}"))
            await conn.serve()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()


class _Connection:
    def __init__(self, server: ControlServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, who: Operator) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.session = OperatorSession(server.hive, who)
        self.streams: dict[Any, asyncio.Task[None]] = {}
        self.lock = asyncio.Lock()
        self.said_hello = False
        self.calls: set[asyncio.Task[None]] = set()

    async def send(self, obj: dict[str, Any]) -> None:
        async with self.lock:
            self.writer.write(encode(obj))
            await self.writer.drain()

    async def serve(self) -> None:
        try:
            while True:
                try:
                    line = await self.reader.readline()
                except ValueError:
                    await self.send({"id": None, "ok": False, "error": ControlError(
                        f"request line longer than {MAX_LINE} bytes").to_dict()})
                    return
                if not line:
                    return
                await self.dispatch(line)
        finally:
            for task in [*self.streams.values(), *self.calls]:
                task.cancel()

    async def dispatch(self, line: bytes) -> None:
        rid: Any = None
        try:
            try:
                req = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ControlError(f"request is not valid JSON: {exc}") from exc
            if not isinstance(req, dict):
                raise ControlError("request must be a JSON object with 'op' and 'args'")
            rid = req.get("id")
            op = req.get("op")
            args = req.get("args", {})
            if not isinstance(op, str) or not isinstance(args, dict):
                raise ControlError("request needs 'op' (string) and 'args' (object)")
            if op == "hello":
                await self.send({"id": rid, "ok": True, "result": self.hello(args)})
                return
            if op == "cancel":
                task = self.streams.pop(args.get("stream"), None)
                if task is not None:
                    task.cancel()
                await self.send({"id": rid, "ok": True, "result": None})
                return
            if op in STREAM_OPS:
                kwargs = self._args(op, args, STREAM_OPS[op])
                self.streams[rid] = asyncio.create_task(self.stream(rid, op, kwargs))
                return
            if op not in OPS:
                raise ControlError(f"unknown operation {op!r} (known: {', '.join(sorted(OPS))})")
            kwargs = self._args(op, args, OPS[op])
            # each request runs on its own so a slow one (restart) never blocks the others
            task = asyncio.create_task(self.call(rid, op, kwargs))
            self.calls.add(task)
            task.add_done_callback(self.calls.discard)
        except HiveError as exc:
            await self.send({"id": rid, "ok": False, "error": exc.to_dict()})

    async def call(self, rid: Any, op: str, kwargs: dict[str, Any]) -> None:
        try:
            result = await getattr(self.session, op)(**kwargs)
            await self.send({"id": rid, "ok": True, "result": to_jsonable(result)})
        except HiveError as exc:
            await self.send({"id": rid, "ok": False, "error": exc.to_dict()})
        except (TypeError, ValueError) as exc:
            await self.send({"id": rid, "ok": False,
                             "error": ControlError(f"{op}: bad arguments: {exc}").to_dict()})
        except ConnectionError:
            pass

    def hello(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.said_hello:
            raise ControlError("hello may be sent once, first")
        self.said_hello = True
        token = args.get("session_token")
        if token:
            who = self.server.sessions.resolve(str(token))
            if who is None:
                raise ControlError("unknown session token: this session is not authorized")
            self.session = OperatorSession(self.server.hive, who)
        return {"operator": self.session.operator, "read_only": self.session.read_only}

    @staticmethod
    def _args(op: str, args: dict[str, Any], spec: tuple[tuple[str, ...], int]
              ) -> dict[str, Any]:
        names, required = spec
        unknown = set(args) - set(names)
        if unknown:
            raise ControlError(f"{op}: unknown arguments {sorted(unknown)}; takes {list(names)}")
        missing = [n for n in names[:required] if n not in args]
        if missing:
            raise ControlError(f"{op}: missing arguments {missing}")
        return dict(args)

    async def stream(self, rid: Any, op: str, kwargs: dict[str, Any]) -> None:
        try:
            source: AsyncIterator[Any] = getattr(self.session, op)(**kwargs)
            async for item in source:
                await self.send({"id": rid, "item": to_jsonable(item)})
            await self.send({"id": rid, "end": True})
        except HiveError as exc:
            await self.send({"id": rid, "ok": False, "error": exc.to_dict()})
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.streams.pop(rid, None)
