"""The agent registry: records, tokens, and the transient lifecycle flags.

Tokens: each agent's bearer token is stored only as its SHA-256 (the token itself is in
its run dir, ``secrets/<n>/token``, bound into its container). A new one is issued when the
agent is created and each time its container starts (:meth:`Registry.issue_token`); it is
revoked when the agent stops or is destroyed (:meth:`Registry.revoke_token`), so the token
of an agent that is not running is refused, across core restarts too.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, get_args

from hivetui.core.bounded import quoted
from hivetui.core.errors import NotFoundError, RegistryError
from hivetui.core.events import AgentChanged, EventHub
from hivetui.core.kinds import AgentRole, AgentState, AgentStatus
from hivetui.core.names import validate_agent_name
from hivetui.core.paths import StatePaths, ensure_private_dir, write_private_file
from hivetui.core.rows import Columns
from hivetui.core.store import Store

log = logging.getLogger(__name__)

ROLES: tuple[AgentRole, ...] = get_args(AgentRole)
STATUSES = ("idle", "in_turn", "waiting_operator", "offline")


class Flag(enum.Enum):
    """Transient flags: set for the whole duration of a lifecycle operation."""

    STOPPING = "Stopping"
    RESTARTING = "Restarting"
    DESTROYING = "Destroying"
    REBUILDING = "Rebuilding"
    STARTING = "Starting"


@dataclass(frozen=True)
class Agent:
    name: str
    role: AgentRole
    runtime: str
    model: str
    model_override: str | None
    state: AgentState
    status: AgentStatus
    status_detail: str
    crash_looping: bool
    created_at: float
    last_turn_at: float | None

    @property
    def effective_model(self) -> str:
        return self.model_override or self.model

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "role": self.role, "runtime": self.runtime,
            "model": self.model, "model_override": self.model_override,
            "state": self.state, "status": self.status, "status_detail": self.status_detail,
            "crash_looping": self.crash_looping, "created_at": self.created_at,
            "last_turn_at": self.last_turn_at,
        }


REVOKED = ""  # the stored hash of a revoked token: no SHA-256 hex digest is empty

_COLUMNS = Columns(name="name", role="role", runtime="runtime", model="model",
                   model_override="model_override", state="state", status="status",
                   status_detail="status_detail", crash_looping="crash_looping",
                   created_at="created_at", last_turn_at="last_turn_at")


def _agent(row: tuple[Any, ...]) -> Agent:
    fields = _COLUMNS.read(row)
    return Agent(**{**fields, "crash_looping": bool(fields["crash_looping"]),
                    "created_at": float(fields["created_at"])})


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Registry:
    """Agents by name, loaded from the store at start, written through on change."""

    def __init__(self, store: Store, paths: StatePaths, hub: EventHub) -> None:
        self._store = store
        self._paths = paths
        self._hub = hub
        self._agents: dict[str, Agent] = {}
        self._token_hashes: dict[str, str] = {}
        self._by_digest: dict[str, str] = {}  # token hash -> agent name
        self._flags: dict[str, set[Flag]] = {}
        self._flag_epoch: dict[str, int] = {}  # bumped whenever a flag is set or cleared
        self._seen: dict[str, float] = {}  # agent -> monotonic time of its last bridge call

    async def load(self) -> None:
        rows = await self._store.fetchall(
            f"SELECT {_COLUMNS}, token_hash FROM agents WHERE state != 'destroyed'"
        )
        for row in rows:
            agent = _agent(row)
            self._agents[agent.name] = agent
            # a stopped agent's token is refused even if it was stopped before revocation
            # existed (or while the core died mid-stop)
            if row[-1] != REVOKED and agent.state != "stopped":
                self._token_hashes[agent.name] = row[-1]
                self._by_digest[row[-1]] = agent.name

    # --- reading -------------------------------------------------------------
    def get(self, name: str) -> Agent:
        agent = self._agents.get(name)
        if agent is None:
            raise NotFoundError(f"no agent named {quoted(name)}")
        return agent

    def find(self, name: str) -> Agent | None:
        return self._agents.get(name)

    def all(self) -> list[Agent]:
        return sorted(self._agents.values(), key=lambda a: (a.role != "manager", a.name))

    def manager(self) -> Agent | None:
        return next((a for a in self._agents.values() if a.role == "manager"), None)

    def flags(self, name: str) -> frozenset[Flag]:
        return frozenset(self._flags.get(name, ()))

    def flags_snapshot(self) -> Mapping[str, frozenset[Flag]]:
        """A consistent copy other services (crash_watch) can read without races."""
        return {name: frozenset(flags) for name, flags in self._flags.items() if flags}

    def flag_epochs(self) -> dict[str, int]:
        """Per agent, a counter bumped on every flag set or clear: compare two readings to
        learn whether any operation touched an agent in between, however briefly."""
        return dict(self._flag_epoch)

    def authenticate(self, token: str) -> Agent | None:
        """The agent whose token this is, compared in constant time; None if none."""
        digest = _hash(token)
        # Looked up by the SHA-256 of the presented token: the lookup's timing can only
        # tell a caller about hashes of its own guesses, never about a stored token, and
        # it stays O(1) however many agents the hive has.
        name = self._by_digest.get(digest)
        if name is None or not hmac.compare_digest(digest, self._token_hashes.get(name, "")):
            return None
        self._seen[name] = time.monotonic()
        return self._agents.get(name)

    def last_seen(self, name: str) -> float | None:
        """When (``time.monotonic()``) the agent last called the bridge in this core."""
        return self._seen.get(name)

    # --- writing -------------------------------------------------------------
    async def create(self, name: str, *, role: str = "worker", runtime: str, model: str) -> Agent:
        validate_agent_name(name)
        if role not in ROLES:
            raise RegistryError(f"role must be one of {ROLES}, got {role!r}")
        if name in self._agents:
            raise RegistryError(f"an agent named {name!r} already exists")
        if role == "manager" and self.manager() is not None:
            raise RegistryError(
                f"the hive already has a manager ({self.manager().name!r}); only one is allowed"  # type: ignore[union-attr]
            )
        token = self._new_token_file(name)
        agent = Agent(name, role, runtime, model, None, "created", "offline", "", False,
                      time.time(), None)
        async with self._store.transaction() as db:
            # a destroyed-then-purged name may linger as 'destroyed': replace it
            await db.execute("DELETE FROM agents WHERE name = ?", (name,))
            await db.execute(
                f"INSERT INTO agents ({_COLUMNS}, token_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (*self._row(agent), _hash(token)),
            )
        self._agents[name] = agent
        self._token_hashes[name] = _hash(token)
        self._by_digest[self._token_hashes[name]] = name
        log.info("agent %s created (role %s, runtime %s)", name, role, runtime)
        self._hub.publish(AgentChanged(agent=name, what="created"))
        return agent

    @staticmethod
    def _row(a: Agent) -> tuple[Any, ...]:
        return (a.name, a.role, a.runtime, a.model, a.model_override, a.state, a.status,
                a.status_detail, int(a.crash_looping), a.created_at, a.last_turn_at)

    async def update(self, name: str, what: str = "", **changes: Any) -> Agent:
        agent = replace(self.get(name), **changes)
        sets = ", ".join(f"{k} = ?" for k in changes)
        values = [int(v) if isinstance(v, bool) else v for v in changes.values()]
        await self._store.execute(f"UPDATE agents SET {sets} WHERE name = ?", (*values, name))
        self._agents[name] = agent
        self._hub.publish(AgentChanged(agent=name, what=what or ",".join(changes)))
        return agent

    async def remove(self, name: str) -> None:
        """Forget the agent (its record is marked destroyed; state dir handling is elsewhere)."""
        self.get(name)
        await self._store.execute("UPDATE agents SET state = 'destroyed' WHERE name = ?", (name,))
        self._agents.pop(name, None)
        old = self._token_hashes.pop(name, None)
        if old is not None:
            self._by_digest.pop(old, None)
        self._hub.publish(AgentChanged(agent=name, what="removed"))

    def _new_token_file(self, name: str) -> str:
        token = secrets.token_urlsafe(32)
        run_dir = ensure_private_dir(self._paths.agent_run(name))
        write_private_file(run_dir / "token", token + "\n")
        return token

    async def _set_token_hash(self, name: str, digest: str) -> None:
        await self._store.execute("UPDATE agents SET token_hash = ? WHERE name = ?",
                                  (digest, name))
        old = self._token_hashes.pop(name, None)
        if old is not None:
            self._by_digest.pop(old, None)
        if digest != REVOKED:
            self._token_hashes[name] = digest
            self._by_digest[digest] = name

    async def issue_token(self, name: str) -> None:
        """A new token for ``name`` (its container is about to start): written to its run
        dir, where the harness reads it at start; the previous one is refused from now."""
        self.get(name)
        await self._set_token_hash(name, _hash(self._new_token_file(name)))
        log.info("agent %s: new bearer token issued", name)

    async def revoke_token(self, name: str) -> None:
        """Refuse ``name``'s token from now on (it stopped, or is being destroyed); the
        run dir's copy goes too."""
        self.get(name)
        await self._set_token_hash(name, REVOKED)
        (self._paths.agent_run(name) / "token").unlink(missing_ok=True)
        log.info("agent %s: bearer token revoked", name)

    @asynccontextmanager
    async def flagged(self, name: str, flag: Flag) -> AsyncIterator[None]:
        """Hold ``flag`` on ``name`` for the duration of the block."""
        flags = self._flags.setdefault(name, set())
        if flag in flags:
            raise RegistryError(f"{name} is already {flag.value.lower()}; wait for it to finish")
        flags.add(flag)
        self._flag_epoch[name] = self._flag_epoch.get(name, 0) + 1
        self._hub.publish(AgentChanged(agent=name, what=f"flag+{flag.value}"))
        try:
            yield
        finally:
            flags.discard(flag)
            self._flag_epoch[name] = self._flag_epoch.get(name, 0) + 1
            self._hub.publish(AgentChanged(agent=name, what=f"flag-{flag.value}"))
