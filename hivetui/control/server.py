"""The control server: operators only, on a 0600 unix socket inside a 0700 directory."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import pwd
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hivetui.control.peer import operator_uid
from hivetui.control.protocol import MAX_LINE, OPS, STREAM_OPS, check_arg, encode, to_jsonable
from hivetui.control.sessions import SessionTokens
from hivetui.core.bounded import clipped, quoted
from hivetui.core.errors import ControlError, HiveError
from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession

log = logging.getLogger(__name__)

MAX_ID_CHARS = 100


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
        except asyncio.CancelledError:
            # the server stops: end quietly (on 3.11 asyncio's stream callback logs a
            # connection task that ends cancelled as an error, traceback and all)
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
            req = _request(line)
            rid = req.get("id")
            op = req.get("op")
            args = req.get("args", {})
            if not isinstance(op, str) or not isinstance(args, dict):
                raise ControlError("request needs 'op' (string) and 'args' (object)")
            if op == "hello":
                await self.send({"id": rid, "ok": True, "result": self.hello(args)})
                return
            if op == "cancel":
                self.cancel(args)
                await self.send({"id": rid, "ok": True, "result": None})
                return
            if op in STREAM_OPS:
                kwargs = self._args(op, args, STREAM_OPS[op])
                self.streams[rid] = asyncio.create_task(self.stream(rid, op, kwargs))
                return
            if op not in OPS:
                raise ControlError(f"unknown operation {quoted(op)} "
                                   f"(known: {', '.join(sorted(OPS))})")
            kwargs = self._args(op, args, OPS[op])
            # each request runs on its own so a slow one (restart) never blocks the others
            task = asyncio.create_task(self.call(rid, op, kwargs))
            self.calls.add(task)
            task.add_done_callback(self.calls.discard)
        except HiveError as exc:
            await self.send({"id": rid, "ok": False, "error": exc.to_dict()})
        except Exception as exc:
            await self.send({"id": rid, "ok": False, "error": _internal("request", exc)})

    def cancel(self, args: dict[str, Any]) -> None:
        stream = args.get("stream")
        if not _valid_id(stream):
            raise ControlError(f"cancel: stream must be the id of a stream request, "
                               f"got {quoted(stream)}")
        task = self.streams.pop(stream, None)
        if task is not None:
            task.cancel()

    async def call(self, rid: Any, op: str, kwargs: dict[str, Any]) -> None:
        try:
            result = await getattr(self.session, op)(**kwargs)
            reply = {"id": rid, "ok": True, "result": to_jsonable(result)}
        except HiveError as exc:
            reply = {"id": rid, "ok": False, "error": exc.to_dict()}
        except Exception as exc:
            reply = {"id": rid, "ok": False, "error": _internal(op, exc)}
        with contextlib.suppress(ConnectionError):
            await self.send(reply)

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
            raise ControlError(f"{op}: unknown arguments {quoted(sorted(unknown))}; "
                               f"takes {list(names)}")
        missing = [n for n in names[:required] if n not in args]
        if missing:
            raise ControlError(f"{op}: missing arguments {missing}")
        for name, value in args.items():
            why = check_arg(name, value)
            if why is not None:
                raise ControlError(f"{op}: {why}")
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
        except Exception as exc:
            with contextlib.suppress(ConnectionError):
                await self.send({"id": rid, "ok": False, "error": _internal(op, exc)})
        finally:
            self.streams.pop(rid, None)


def _valid_id(rid: Any) -> bool:
    return rid is None or (isinstance(rid, int | str) and not isinstance(rid, bool)
                           and len(str(rid)) <= MAX_ID_CHARS)


def _request(line: bytes) -> dict[str, Any]:
    """The request object of one line, or a ControlError naming what is wrong with it."""
    try:
        req = json.loads(line)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
        raise ControlError(f"request is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(req, dict):
        raise ControlError("request must be a JSON object with 'op' and 'args'")
    if not _valid_id(req.get("id")):
        raise ControlError(f"request id must be an integer or a string of at most "
                           f"{MAX_ID_CHARS} characters, got {quoted(req.get('id'))}")
    return req


def _internal(op: str, exc: Exception) -> dict[str, str]:
    """The reply for a failure nobody foresaw: logged whole, answered in one short line."""
    log.error("control: %s failed", op, exc_info=exc)
    reason = clipped(f"{type(exc).__name__}: {exc}", 200)
    if _disk_full(exc):
        return ControlError(f"{op}: the disk holding the hive's state is full ({reason}); "
                            "free some space and retry").to_dict()
    return ControlError(f"{op}: internal error ({reason}); "
                        "the hive's log has the details").to_dict()


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)
