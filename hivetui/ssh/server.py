"""The operators' SSH server: public keys only, one PTY program per session.

Runs in the core's event loop (asyncssh). Each authenticated key is an operator (see
:mod:`hivetui.ssh.keys`); each session gets a control-API session token bound to that
operator and role, handed to the child in ``HIVETUI_SESSION_TOKEN`` next to
``HIVETUI_SOCKET`` — the control server maps the token back, so what the client says
about itself never decides who it is.

The default session program (`hivetui attach`) is forked from a pre-imported zygote
(:mod:`hivetui.zygote`): still one process per session, without each paying the
interpreter's start and the app's imports. A configured ``child_argv`` is spawned as is.

Usage (the CLI)::

    server = SSHServer.from_config(config.ssh, state_dir=..., socket=control.path,
                                   tokens=control.sessions, audit=hive.audit)
    async with server:               # listening; server.fingerprint, server.port
        ...
    # or as a hive service: hive.add_service("ssh", server.run); await server.ready()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

import asyncssh

from hivetui.control.sessions import SESSION_TOKEN_ENV, SessionTokens
from hivetui.core.config import SSHConfig
from hivetui.core.errors import SSHError
from hivetui.ssh.admission import AdmissionGate
from hivetui.ssh.childenv import SOCKET_ENV, session_env
from hivetui.ssh.hostkey import load_or_create_host_key
from hivetui.ssh.keys import AuthorizedKey, AuthorizedKeysFile
from hivetui.ssh.ptychild import PtyChild
from hivetui.ssh.session import Identity, PtySession, SessionInfo
from hivetui.ssh.zygote_client import Zygote

log = logging.getLogger(__name__)


class AuditSink(Protocol):
    def record(self, actor: str, action: str, target: str = "", detail: str = "",
               commit: str = "") -> Awaitable[object]: ...


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) → (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise SSHError(f"ssh listen address {value!r} must be HOST:PORT with a port 0-65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def default_child_args(socket: Path, state_dir: Path | None = None) -> list[str]:
    """`hivetui attach` on the node's socket; with the node's state dir so the session's
    app logs beside the core's, never into some default state tree."""
    args = ["attach", "--socket", str(socket)]
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    return args


def default_child_argv(socket: Path, state_dir: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "hivetui", *default_child_args(socket, state_dir)]


@dataclass
class SSHSite:
    """Where the SSH server runs and what each session starts: what the ``[ssh]`` section
    (:class:`SSHConfig`, the rules) does not say."""

    authorized_keys: Path
    state_dir: Path
    socket: Path
    host: str = "127.0.0.1"
    port: int = 0
    child_argv: Sequence[str] | None = None  # default: `python -m hivetui attach --socket S`
    child_env: Mapping[str, str] = field(default_factory=dict)  # extra variables
    keys_check_s: float = 2.0  # how often open sessions are checked against the key file
    kill_grace_s: float = 1.0
    # A client that vanished without closing (laptop lid, dropped Wi-Fi) is detected by
    # keepalives within interval * 3 and its session ended like any disconnect.
    keepalive_interval_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SSHError(f"ssh port {self.port} is outside 0-65535")


class _Connection(asyncssh.SSHServer):
    """One client connection: authentication only; sessions are PtySession objects."""

    def __init__(self, service: SSHServer) -> None:
        self._service = service
        self._conn: asyncssh.SSHServerConnection | None = None
        self._peer = ("", 0)
        self._username = ""
        self._candidate: AuthorizedKey | None = None
        self._admitted = False  # holds an unauthenticated slot of the service's gate
        self.identity: Identity | None = None

    @property
    def peer(self) -> str:
        return f"{self._peer[0]}:{self._peer[1]}"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername")
        if peer:
            self._peer = (str(peer[0]), int(peer[1]))
        if not self._service.gate.admit(self.peer, self._peer[0]):
            # Before asyncssh sends its version line: no key exchange is ever started.
            conn.abort()
            return
        self._admitted = True
        self._service._connections.add(conn)

    def _leave_gate(self) -> None:
        if self._admitted:
            self._admitted = False
            self._service.gate.release(self._peer[0])

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._service._connections.discard(self._conn)
        if not self._admitted and self.identity is None:
            return  # refused at the gate (logged there)
        self._leave_gate()
        if self.identity is None:
            log.info("ssh: connection from %s closed before authentication%s", self.peer,
                     f" ({exc})" if exc else "")

    def begin_auth(self, username: str) -> bool:
        self._username = username
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # asyncssh verifies the signature right after this returns True, for this key:
        # the last candidate before auth_completed is the key that proved itself.
        entry = self._service.keys.match(key, self._peer[0], self._peer[0])
        self._candidate = entry
        if entry is None:
            log.info("ssh: key %s offered by %s (user %r) is not authorized",
                     key.get_fingerprint("sha256"), self.peer, username)
        return entry is not None

    async def auth_completed(self) -> None:
        self._leave_gate()
        entry = self._candidate
        if entry is None:  # cannot happen: only public-key auth is enabled
            raise SSHError("authentication completed without an authorized key")
        self.identity = Identity(entry.operator, entry.read_only, entry.fingerprint,
                                 self.peer, self._username)
        await self._service._logged_in(self.identity)

    def session_requested(self) -> PtySession | bool:
        if self.identity is None:
            return False
        return PtySession(self._service, self.identity)


class SSHServer:
    """The SSH service: ``async with SSHServer(site, tokens, settings=config.ssh):``
    listens until closed."""

    def __init__(self, site: SSHSite, tokens: SessionTokens, audit: AuditSink | None = None,
                 settings: SSHConfig | None = None) -> None:
        self.site = site
        self.settings = settings if settings is not None else SSHConfig()
        self.tokens = tokens
        self.audit = audit
        self.keys = AuthorizedKeysFile(site.authorized_keys, self.settings.read_only)
        self.idle_timeout_s = self.settings.idle_timeout_s
        self.kill_grace_s = site.kill_grace_s
        self.logins: dict[str, str] = {}  # key fingerprint → operator, as seen at login
        self._host_key: asyncssh.SSHKey | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._sessions: dict[int, PtySession] = {}
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self.gate = AdmissionGate(self.settings.max_unauthenticated,
                                  self.settings.max_unauthenticated_per_source)
        self._closing = False
        self._ready = asyncio.Event()
        self._start_error: Exception | None = None
        self._zygote: Zygote | None = None  # set once it is ready
        self._zygote_start: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, cfg: SSHConfig, *, state_dir: Path, socket: Path,
                    tokens: SessionTokens, listen: str | None = None,
                    authorized_keys: Path | None = None, audit: AuditSink | None = None,
                    child_argv: Sequence[str] | None = None) -> SSHServer:
        """Build from the ``[ssh]`` config section; CLI flags override listen/keys."""
        address = listen if listen is not None else cfg.listen
        if not address:
            raise SSHError("no ssh listen address: pass --ssh HOST:PORT or set ssh.listen")
        keys = authorized_keys if authorized_keys is not None else (
            Path(cfg.authorized_keys).expanduser() if cfg.authorized_keys else None)
        if keys is None:
            raise SSHError("no authorized keys file: pass --authorized-keys FILE or set "
                           "ssh.authorized_keys")
        host, port = parse_listen(address)
        site = SSHSite(authorized_keys=keys, state_dir=state_dir, socket=socket, host=host,
                       port=port, child_argv=child_argv)
        return cls(site, tokens, audit, cfg)

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        if self._acceptor is not None:
            raise SSHError("the ssh server is already started")
        self._host_key = load_or_create_host_key(self.site.state_dir / "ssh")
        self.keys.refresh()
        if not self.site.authorized_keys.exists():
            log.warning("ssh: authorized keys file %s does not exist yet: nobody can log in "
                        "until it does", self.site.authorized_keys)
        try:
            self._acceptor = await asyncssh.listen(
                self.site.host, self.site.port,
                server_factory=lambda: _Connection(self),
                server_host_keys=[self._host_key], config=None,
                public_key_auth=True, password_auth=False, kbdint_auth=False,
                host_based_auth=False, gss_auth=False, gss_kex=False,
                allow_pty=True, line_editor=False, encoding=None,
                agent_forwarding=False, x11_forwarding=False, allow_scp=False,
                rdns_lookup=False, login_timeout=self.settings.login_timeout_s,
                keepalive_interval=self.site.keepalive_interval_s, keepalive_count_max=3,
                authorized_client_keys=None,
            )
        except OSError as exc:
            raise SSHError(f"cannot listen for ssh on {self.site.host}:{self.site.port}: "
                           f"{exc.strerror or exc}") from exc
        log.info("ssh: listening on %s:%d, host key %s", self.site.host, self.port,
                 self.fingerprint)
        if self.settings.preload_sessions and self.site.child_argv is None:
            # in the background: sessions that come first start as fresh processes
            self._zygote_start = asyncio.create_task(self._start_zygote())

    async def _start_zygote(self) -> None:
        env = session_env(term="dumb", socket="", token="", client_env={},
                          extra=self.site.child_env)
        for per_session in ("TERM", SOCKET_ENV, SESSION_TOKEN_ENV):
            env.pop(per_session, None)
        zygote = Zygote(env)
        try:
            await zygote.start()
        except SSHError as exc:  # sessions still start, each as a fresh process
            log.warning("ssh: %s; sessions start without it (slower)", exc)
            return
        except asyncio.CancelledError:
            await zygote.aclose()
            raise
        self._zygote = zygote

    async def run(self) -> None:
        """Serve until cancelled: a hive service (``hive.add_service("ssh", server.run)``)."""
        try:
            await self.start()
        except Exception as exc:
            self._start_error = exc
            self._ready.set()
            raise
        try:
            self._start_error = None
            self._ready.set()
            while True:  # until cancelled
                await asyncio.sleep(self.site.keys_check_s)
                self.end_revoked_sessions()
        finally:
            await self.aclose()

    def end_revoked_sessions(self) -> int:
        """End every open session whose key left authorized_keys or changed role (a key
        newly marked read-only must not keep a writable session). Returns how many."""
        allowed = {(entry.fingerprint, entry.read_only) for entry in self.keys.keys}
        ended = 0
        for session in list(self._sessions.values()):
            info = session.info
            if (info.fingerprint, info.read_only) not in allowed:
                log.warning("ssh: ending the session of %s (%s): its key was removed or its "
                            "role changed in %s", info.operator, info.fingerprint,
                            self.site.authorized_keys)
                session.stop("your key was removed from the authorized keys or its role "
                             "changed; this session is closed")
                ended += 1
        return ended

    async def ready(self, timeout: float = 10.0) -> None:
        """Wait until :meth:`run` listens; raise what stopped it from starting."""
        await asyncio.wait_for(self._ready.wait(), timeout)
        if self._start_error is not None:
            raise self._start_error

    async def aclose(self) -> None:
        """Stop listening, end every session (its program and stragglers), close all."""
        if self._closing or self._acceptor is None:
            return
        self._closing = True
        self._ready.clear()
        try:
            await self._close()
        finally:
            self._acceptor = None
            self._closing = False

    async def _close(self) -> None:
        assert self._acceptor is not None
        self._acceptor.close()
        await self._acceptor.wait_closed()
        sessions = list(self._sessions.values())
        for session in sessions:
            session.stop("the hive's ssh server is shutting down")
        results = await asyncio.gather(*(s.wait_closed() for s in sessions),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("ssh: a session failed while closing: %s", result)
        for conn in list(self._connections):
            conn.close()
        for conn in list(self._connections):
            await conn.wait_closed()
        if self._zygote_start is not None:
            self._zygote_start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._zygote_start
            self._zygote_start = None
        if self._zygote is not None:
            await self._zygote.aclose()
            self._zygote = None
        log.info("ssh: server closed")

    async def __aenter__(self) -> SSHServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    # --- facts -------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint of the host key, as `ssh` shows it."""
        if self._host_key is None:
            raise SSHError("the ssh server has not started: no host key yet")
        return self._host_key.get_fingerprint("sha256")

    @property
    def port(self) -> int:
        if self._acceptor is None:
            raise SSHError("the ssh server has not started")
        return self._acceptor.get_port()

    @property
    def sessions(self) -> list[SessionInfo]:
        return [s.info for s in self._sessions.values()]

    def session_objects(self) -> list[PtySession]:
        return list(self._sessions.values())

    # --- SessionHost -------------------------------------------------------------------
    def reserve(self, session: PtySession) -> str | None:
        if self._closing:
            return "the hive's ssh server is shutting down"
        if len(self._sessions) >= self.settings.max_sessions:
            return (f"too many operator sessions ({len(self._sessions)} of "
                    f"{self.settings.max_sessions} in use, ssh.max_sessions); try again later")
        self._sessions[id(session)] = session
        return None

    def release(self, session: PtySession) -> None:
        self._sessions.pop(id(session), None)

    def issue_token(self, identity: Identity) -> str:
        return self.tokens.issue(identity.operator, identity.read_only)

    def revoke_token(self, token: str) -> None:
        self.tokens.revoke(token)

    async def spawn_child(self, env: Mapping[str, str], cols: int, rows: int, px_width: int,
                          px_height: int, modes: Mapping[int, int]) -> PtyChild:
        if self.site.child_argv is not None:
            return PtyChild.spawn(self.site.child_argv, env, cols, rows, px_width,
                                  px_height, modes)
        zygote = self._zygote
        if zygote is not None and zygote.alive:
            try:
                return await zygote.spawn(
                    default_child_args(self.site.socket, self.site.state_dir), env,
                    cols, rows, px_width, px_height, modes)
            except SSHError as exc:
                log.error("ssh: %s; this session starts as a fresh process", exc)
        return PtyChild.spawn(default_child_argv(self.site.socket, self.site.state_dir),
                              env, cols, rows, px_width, px_height, modes)

    def child_env(self, identity: Identity, term: str, token: str,
                  client_env: Mapping[str, str]) -> dict[str, str]:
        return session_env(term=term, socket=str(self.site.socket), token=token,
                           client_env=client_env, extra=self.site.child_env)

    async def _logged_in(self, identity: Identity) -> None:
        self.logins[identity.fingerprint] = identity.operator
        log.info("ssh: login of operator %s (%s) with key %s from %s (user %r)",
                 identity.operator, "read-only" if identity.read_only else "read-write",
                 identity.fingerprint, identity.peer, identity.username)
        if self.audit is not None:
            await self.audit.record(identity.operator, "ssh_login", identity.peer,
                                    f"key={identity.fingerprint} "
                                    f"read_only={identity.read_only}")
