"""The egress proxy: the only way out of a private-network container, deny by default.

One unix socket per agent (``<run dir>/net/proxy.sock``, forwarded to ``127.0.0.1:7803``
inside, see :mod:`hivetui.core.forwards`): the socket a connection arrives on is the
agent, nothing the agent says. It speaks the two forms clients send a proxy:

- ``CONNECT host:port`` (HTTPS and any other TCP), then the bytes go both ways untouched;
- plain HTTP in absolute form (``GET http://host[:port]/path``): forwarded as origin form
  with ``Connection: close``, one request per connection.

A target is let through only when ``host:port`` is in the agent's ``network.allow``
(settings.toml of its applied config; ``host`` as the client names it, compared
case-insensitively). Anything else gets a 403 whose body says what was refused and why.
Each refusal is counted per agent: ``denied`` (since this core started, for the agent's
overview), the telemetry series ``egress_denied`` (the refusals of each second) and the log
(at most ``LOG_PER_MINUTE`` lines per agent a minute, then one line saying how many more).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from hivetui.core.bounded import clipped
from hivetui.core.errors import ContainerError
from hivetui.core.settings import normalize_allow
from hivetui.core.splice import splice

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
LOG_PER_MINUTE = 10
RECORD_EVERY_S = 1.0
#: request headers a proxy consumes (never passed on)
HOP_HEADERS = frozenset({b"proxy-connection", b"proxy-authorization", b"connection",
                         b"keep-alive"})

Record = Callable[[str, dict[str, float]], None]


class Refused(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _reply(status: str, text: str) -> bytes:
    body = (text + "\n").encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def _target(method: str, target: str) -> tuple[str, str, int, bytes | None]:
    """(``host:port`` as compared, host to connect, port, path for a plain request)."""
    try:
        return _parse_target(method, target)
    except ValueError as exc:  # urlsplit: a bracket left open, a port out of range
        raise Refused("400 Bad Request", f"hive egress proxy: {clipped(target)!r} is not a "
                      "target a proxy can reach") from exc


def _parse_target(method: str, target: str) -> tuple[str, str, int, bytes | None]:
    if method == "CONNECT":
        url = urlsplit(f"//{target}")
        path = None
    else:
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            raise Refused("400 Bad Request", "hive egress proxy: a plain request needs an "
                          "absolute http:// URL (use CONNECT for https)")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    port = url.port if url.port is not None else (80 if path is not None else None)
    if port is None or not url.hostname:
        raise Refused("400 Bad Request", f"hive egress proxy: {clipped(target)!r} names no "
                      "host:port")
    host = url.hostname
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        key = normalize_allow(shown)
    except ValueError as exc:
        raise Refused("400 Bad Request", f"hive egress proxy: {shown} is not a host:port "
                      "a proxy can reach") from exc
    return key, host, port, path.encode() if path is not None else None


class EgressProxy:
    """Per-agent listeners and the allow lists they apply; see the module docstring.

    ``socket_for(agent)`` is where an agent's listener lives; ``record(agent, values)``
    takes telemetry samples.
    """

    def __init__(self, socket_for: Callable[[str], Path], record: Record) -> None:
        self._socket_for = socket_for
        self._record = record
        self._allow: dict[str, frozenset[str]] = {}
        self._servers: dict[str, tuple[asyncio.Server, tuple[int, int]]] = {}
        self.denied: Counter[str] = Counter()
        self._unrecorded: Counter[str] = Counter()
        self._logged: dict[str, tuple[float, int]] = {}

    def allow(self, agent: str, entries: tuple[str, ...]) -> None:
        """The agent's ``network.allow`` from now on (new connections)."""
        self._allow[agent] = frozenset(entries)

    async def listen(self, agent: str) -> None:
        """Serve ``agent`` at its socket (again, if the file there is not ours any more)."""
        path = self._socket_for(agent)
        held = self._servers.get(agent)
        try:
            st = os.lstat(path)
            if held is not None and (st.st_dev, st.st_ino) == held[1]:
                return
        except FileNotFoundError:
            pass
        if held is not None:
            held[0].close()
        path.unlink(missing_ok=True)
        try:
            server = await asyncio.start_unix_server(partial(self._serve, agent),
                                                     path=str(path), limit=MAX_HEAD)
        except OSError as exc:
            raise ContainerError(f"cannot serve {agent}'s egress proxy at {path}: "
                                 f"{exc.strerror or exc} (a unix socket path is at most "
                                 "107 bytes: a shorter state dir helps)") from exc
        os.chmod(path, 0o666)  # the container's uid connects; the directories guard it
        st = os.lstat(path)
        self._servers[agent] = (server, (st.st_dev, st.st_ino))

    def forget(self, agent: str) -> None:
        held = self._servers.pop(agent, None)
        if held is not None:
            held[0].close()
        self._allow.pop(agent, None)

    async def run(self) -> None:
        """Record the refusals into telemetry each second; closes every listener at the end."""
        try:
            while True:
                await asyncio.sleep(RECORD_EVERY_S)
                self.flush()
        finally:
            self.flush()
            for server, _ in self._servers.values():
                server.close()
            self._servers.clear()

    def flush(self) -> None:
        for agent, count in self._unrecorded.items():
            self._record(agent, {"egress_denied": count})
        self._unrecorded.clear()

    async def _serve(self, agent: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(agent, reader, writer)
        except Refused as exc:
            writer.write(_reply(exc.status, exc.reason))
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went or sent nothing usable in time: nothing to answer
        finally:
            if not writer.is_closing():
                writer.close()

    async def _handle(self, agent: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise Refused("431 Request Header Fields Too Large",
                          f"hive egress proxy: request head over {MAX_HEAD} bytes") from exc
        line, _, rest = head.partition(b"\r\n")
        parts = line.decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise Refused("400 Bad Request", "hive egress proxy: not an HTTP request line")
        method, target, _version = parts
        key, host, port, path = _target(method, target)
        if key not in self._allow.get(agent, frozenset()):
            self._deny(agent, key)
            allowed = ", ".join(sorted(self._allow.get(agent, ()))) or "nothing"
            raise Refused("403 Forbidden",
                          f"hive egress proxy: {key} is not allowed for agent {agent}; "
                          f"its settings.toml network.allow lets through only: {allowed}")
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                upstream = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise Refused("502 Bad Gateway",
                          f"hive egress proxy: cannot reach {key}: {exc or 'timed out'}") from exc
        if path is None:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upstream[1].write(_origin_form(method, path, rest))
        await splice((reader, writer), upstream)

    def _deny(self, agent: str, key: str) -> None:
        self.denied[agent] += 1
        self._unrecorded[agent] += 1
        now = time.monotonic()
        since, count = self._logged.get(agent, (now, 0))
        if now - since >= 60.0:
            if count > LOG_PER_MINUTE:
                log.warning("egress proxy: %d more attempts of %s denied in the last minute "
                            "(counted, not logged)", count - LOG_PER_MINUTE, agent)
            since, count = now, 0
        self._logged[agent] = (since, count + 1)
        if count < LOG_PER_MINUTE:
            log.warning("egress proxy: denied %s to %s (not in its network.allow)", agent, key)


def _origin_form(method: str, path: bytes, headers: bytes) -> bytes:
    """The request as the origin server takes it: origin-form, no proxy headers, closing."""
    kept = [h for h in headers.split(b"\r\n")
            if h and h.split(b":", 1)[0].strip().lower() not in HOP_HEADERS]
    return b"\r\n".join([f"{method} ".encode() + path + b" HTTP/1.1", *kept,
                         b"Connection: close", b"", b""])
