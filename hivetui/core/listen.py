"""Loopback listeners that come back on their previous port (bridge, credential broker).

Containers outlive the core: a restarted core listening where the previous one did lets
running agents find it without being told; when that port is taken, a new one is used and
agents learn it from their bridge.json."""

from __future__ import annotations

import logging
import socket

from hivetui.core.errors import BridgeError

log = logging.getLogger(__name__)


def bind_tcp(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepts
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def listen_again(host: str, port: int, previous: int, what: str, settings: str
                 ) -> socket.socket:
    """A socket bound to ``host:port``; with port 0, to ``previous`` when it is known and
    free. ``what`` names the service and ``settings`` the config keys in the refusal."""
    if port == 0 and previous:
        try:
            return bind_tcp(host, previous)
        except OSError as exc:
            log.warning("%s: the previous port %s is taken (%s); agents are told the new one "
                        "through their bridge.json", what, previous, exc)
    try:
        return bind_tcp(host, port)
    except OSError as exc:
        raise BridgeError(f"the {what} cannot listen on {host}:{port} ({settings}): "
                          f"{exc}") from exc
