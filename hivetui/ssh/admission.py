"""How many connections may be on their way in (connected, not yet logged in) at once.

A connection takes a slot when the TCP connection is accepted and gives it back when its
key login completes or it closes (refused key, login timeout, client gone). Over the
limit — all addresses together, or one address (IPv6: one /64, what a single host
usually gets) — the connection is closed at once, before the server's version line and
any key exchange. Logged-in sessions are limited separately (``ssh.max_sessions``).
"""

from __future__ import annotations

import ipaddress
import logging
import time

log = logging.getLogger(__name__)

_LOG_EVERY_S = 1.0  # at most one refusal line a second (a flood must not flood the log)


def source_of(address: str) -> str:
    """The unit a per-source limit counts: the address, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class AdmissionGate:
    """Counts unauthenticated connections; :meth:`admit` and :meth:`release` pair up."""

    def __init__(self, limit: int, per_source: int = 0) -> None:
        self.limit = limit
        self.per_source = per_source  # 0: no per-address limit
        self._by_source: dict[str, int] = {}
        self._count = 0
        self._refused = 0  # refusals since the last one logged
        self._logged_at = float("-inf")
        self.refused_total = 0

    @property
    def count(self) -> int:
        return self._count

    def sources(self) -> dict[str, int]:
        return dict(self._by_source)

    def admit(self, peer: str, address: str) -> bool:
        """Take a slot for a new connection from ``address`` (``peer`` is for the log)."""
        source = source_of(address)
        held = self._by_source.get(source, 0)
        if self._count >= self.limit:
            self._refuse(peer, f"{self._count} connections are not logged in yet "
                               f"(ssh.max_unauthenticated = {self.limit})")
            return False
        if self.per_source and held >= self.per_source:
            self._refuse(peer, f"{held} connections from {source} are not logged in yet "
                               f"(ssh.max_unauthenticated_per_source = {self.per_source})")
            return False
        self._count += 1
        self._by_source[source] = held + 1
        return True

    def release(self, address: str) -> None:
        """Give back the slot :meth:`admit` took (once per admitted connection)."""
        source = source_of(address)
        held = self._by_source.get(source, 0)
        if held <= 0 or self._count <= 0:  # a bug: never let the count go negative
            log.error("ssh: admission slot released for %s, which holds none", source)
            return
        self._count -= 1
        if held == 1:
            del self._by_source[source]
        else:
            self._by_source[source] = held - 1

    def _refuse(self, peer: str, why: str) -> None:
        self.refused_total += 1
        self._refused += 1
        now = time.monotonic()
        if now - self._logged_at < _LOG_EVERY_S:
            return
        more = self._refused - 1
        self._refused = 0
        self._logged_at = now
        log.warning("ssh: refused connection from %s before key exchange: %s%s", peer, why,
                    f" (and {more} more since the last such line)" if more else "")
