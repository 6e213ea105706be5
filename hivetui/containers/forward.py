"""The forwarder inside a container: ``127.0.0.1:<port>`` spliced to a unix socket of the core.

Run by the container's init (:mod:`hivetui.containers.init`) in the container's namespaces,
on listening sockets init bound before the agent's first process started (so a port is
never free for the agent to take first). Each accepted connection gets a fresh connection
to its unix socket (``/run/hive/net/<service>.sock``, see :mod:`hivetui.core.forwards`);
bytes go both ways as they come, half-closes are passed on. When the core is down the
connection is closed at once, so the client's own retry takes over. Standard library only.

The nixos backend's containers run it as a service of their own:
``python -m hivetui.containers.forward PORT=SOCKET…`` (it binds the ports itself).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from functools import partial

from hivetui.core.splice import splice


async def _to_core(path: str, client_r: asyncio.StreamReader,
                   client_w: asyncio.StreamWriter) -> None:
    try:
        core = await asyncio.open_unix_connection(path)
    except OSError:
        client_w.transport.abort()  # the core is not there: the client retries
        return
    await splice((client_r, client_w), core)


async def serve(listeners: list[tuple[socket.socket, str]]) -> None:
    """Forward each listening socket to its unix socket path; runs until killed."""
    servers = [await asyncio.start_server(partial(_to_core, path), sock=sock)
               for sock, path in listeners]
    await asyncio.gather(*(server.serve_forever() for server in servers))


def listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def run(listeners: list[tuple[socket.socket, str]]) -> None:
    try:
        asyncio.run(serve(listeners))
    except Exception as exc:  # init restarts us; say why we went
        print(f"hive-forward: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        raise


def main(argv: list[str]) -> int:
    try:
        pairs = [(int(port), path) for port, _, path in (a.partition("=") for a in argv)]
    except ValueError:
        pairs = []
    if not pairs or any(not path.startswith("/") for _, path in pairs):
        print("usage: python -m hivetui.containers.forward PORT=/SOCKET/PATH…", file=sys.stderr)
        return 2
    run([(listen(port), path) for port, path in pairs])
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
