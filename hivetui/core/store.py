"""The sqlite store: one owned aiosqlite connection, WAL, migrations by user_version."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from hivetui.core.bounded import clipped
from hivetui.core.errors import StoreError

log = logging.getLogger(__name__)

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE agents (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('manager', 'worker')),
        runtime TEXT NOT NULL,
        model TEXT NOT NULL,
        model_override TEXT,
        state TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'idle',
        status_detail TEXT NOT NULL DEFAULT '',
        token_hash TEXT NOT NULL,
        crash_looping INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        last_turn_at REAL
    );
    CREATE UNIQUE INDEX agents_one_manager ON agents(role) WHERE role = 'manager';
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('peer', 'operator', 'manager', 'system')),
        body TEXT NOT NULL,
        created_at REAL NOT NULL,
        delivered_at REAL
    );
    CREATE INDEX messages_pending ON messages(recipient, id) WHERE delivered_at IS NULL;
    CREATE INDEX messages_recipient ON messages(recipient, id);
    CREATE INDEX messages_sender ON messages(sender, id);
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        agent TEXT NOT NULL,
        commit_sha TEXT NOT NULL DEFAULT '',
        diff TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'approved', 'denied', 'failed')),
        requested_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        resolved_at REAL,
        resolved_by TEXT,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        question TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '[]',
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'answered')),
        answer TEXT,
        created_at REAL NOT NULL,
        answered_at REAL,
        answered_by TEXT
    );
    CREATE TABLE telemetry (
        agent TEXT NOT NULL,
        ts REAL NOT NULL,
        key TEXT NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX telemetry_agent_key_ts ON telemetry(agent, key, ts, value);
    CREATE INDEX telemetry_ts ON telemetry(ts);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        commit_sha TEXT NOT NULL DEFAULT ''
    );
    """,
    # 2: turns that saw a message and failed (attempts), messages set aside as dead
    """
    ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN dead_at REAL;
    ALTER TABLE messages ADD COLUMN last_failure TEXT NOT NULL DEFAULT '';
    CREATE INDEX messages_dead ON messages(recipient, id) WHERE dead_at IS NOT NULL;
    """,
    # 3: a sender's idempotency key per message, so a retried send is not stored twice
    """
    ALTER TABLE messages ADD COLUMN idem_key TEXT;
    CREATE INDEX messages_idem ON messages(created_at) WHERE idem_key IS NOT NULL;
    """,
    # 4: approvals carried out step by step (core/approval_run.py), one row per step reached
    """
    CREATE TABLE approval_steps (
        approval_id INTEGER NOT NULL REFERENCES approvals(id),
        step TEXT NOT NULL,
        ts REAL NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (approval_id, step)
    );
    """,
    # 5: a dead letter whose report (manager event, toast) is not yet out: set with dead_at,
    # cleared once reported, so a core killed in between reports it at its next start
    """
    ALTER TABLE messages ADD COLUMN dead_untold INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX messages_dead_untold ON messages(id) WHERE dead_untold = 1;
    """,
    # 6: turn transcripts (core/transcripts.py): one row per turn, its events beside it
    """
    CREATE TABLE transcript_turns (
        agent TEXT NOT NULL,
        turn INTEGER NOT NULL,
        turn_key TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        outcome TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        duration_s REAL NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        tokens_in INTEGER NOT NULL DEFAULT 0,
        tokens_out INTEGER NOT NULL DEFAULT 0,
        cache_read INTEGER NOT NULL DEFAULT 0,
        cache_write INTEGER NOT NULL DEFAULT 0,
        events INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        dropped INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (agent, turn)
    );
    CREATE INDEX transcript_turns_key ON transcript_turns(agent, turn_key);
    CREATE TABLE transcript_events (
        agent TEXT NOT NULL,
        turn INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (agent, turn, seq)
    ) WITHOUT ROWID;
    """,
    # 7: what each agent's API use cost per UTC day (core/spend.py), counted by the
    # credential broker; told: the day's budget_exhausted event is out
    """
    CREATE TABLE spend (
        agent TEXT NOT NULL,
        day TEXT NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        told INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (agent, day)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def recovery(path: Path) -> str:
    """What an operator does about a damaged store (one line)."""
    return (f"The hive does not start on it. Recovery: stop every hivetui using it, keep a "
            f"copy of {path.name}, then restore it from a backup, or salvage what is left "
            f"with `sqlite3 {path.name} .recover | sqlite3 {path.stem}-recovered.sqlite3` "
            f"and move {path.stem}-recovered.sqlite3 into its place")


def refuse_fresh_over_agents(db: Path, places: dict[str, Path]) -> None:
    """Refuse to start a new, empty store where the state directory describes agents.

    A missing or 0-byte ``db`` would otherwise become a silently empty hive while
    ``places`` (label -> directory) still hold the agents it forgot.
    """
    try:
        fresh = db.stat().st_size == 0
    except FileNotFoundError:
        fresh = True
    if not fresh:
        return
    found = {label: sorted(p.name for p in path.iterdir())
             for label, path in places.items() if path.is_dir() and any(path.iterdir())}
    if found:
        held = "; ".join(f"{label} holds {', '.join(clipped(n, 20) for n in names[:5])}"
                         + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                         for label, names in found.items())
        state = "is empty (0 bytes)" if db.exists() else "is missing"
        raise StoreError(
            f"the store {db} {state} but the state directory describes agents ({held}); "
            f"starting would forget them. Restore {db.name} from a backup, or, to start a "
            f"new hive here on purpose, move {', '.join(found)} aside first")


class Store:
    """Owns the one connection. Use ``async with Store(path) as store``.

    Writes are serialized by a lock so a transaction never interleaves with another
    coroutine's statements; every write helper commits before it returns.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open, check integrity, migrate; on any failure nothing is left open."""
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._check_integrity()
            await self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: durable across a process crash (kill -9); only an OS
            # crash / power loss can roll back the last transactions.
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA foreign_keys=ON")
            await self._db.execute("PRAGMA busy_timeout=5000")
            await self._migrate()
        except BaseException as exc:
            # the connection's thread would otherwise keep the process alive for ever
            with contextlib.suppress(Exception):
                await self.aclose()
            if isinstance(exc, aiosqlite.Error):
                raise StoreError(f"cannot open the store {self.path}: {exc}. "
                                 f"{recovery(self.path)}") from exc
            raise
        log.info("store open at %s (schema %s)", self.path, SCHEMA_VERSION)

    async def _check_integrity(self) -> None:
        """``PRAGMA quick_check`` (O(size), without the index cross-checks of the full one)."""
        rows = await self.db.execute_fetchall("PRAGMA quick_check")
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
        if problems:
            first = " / ".join(problems[0].splitlines()[:3])
            raise StoreError(f"the store {self.path} failed its integrity check "
                             f"(quick_check: {clipped(first, 200)}). {recovery(self.path)}")

    async def _migrate(self) -> None:
        db = self.db
        async with db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema {version}, newer than this hivetui "
                f"knows ({SCHEMA_VERSION}): a newer hivetui wrote it. Upgrade hivetui to run "
                "this hive; the store is left as it is"
            )
        for number in range(version, SCHEMA_VERSION):
            log.info("migrating store to schema %s", number + 1)
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {number + 1}")
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    async def aclose(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction; committed when the block ends without error."""
        async with self._lock:
            db = self.db
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement as its own (autocommit) transaction; return the rowid of
        the connection's last INSERT (meaningful for an INSERT statement).

        One statement in autocommit mode is atomic and committed when it returns, in one
        trip to the connection's thread instead of three (BEGIN, statement, COMMIT).
        """
        async with self._lock:
            row = await self.db.execute_insert(sql, params)
        return int(row[0]) if row else 0

    async def execute_returning(self, sql: str, params: Sequence[Any] = ()
                                ) -> list[tuple[Any, ...]]:
        """Run one write statement with a RETURNING clause; return its rows.

        Autocommit again: the statement commits once its last row is read, which happens
        in the same trip to the connection's thread.
        """
        async with self._lock:
            rows = await self.db.execute_fetchall(sql, params)
        return [tuple(r) for r in rows]

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as db:
            await db.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query, read in a single trip to the connection's thread."""
        return [tuple(r) for r in await self.db.execute_fetchall(sql, params)]

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        async with self.db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return tuple(row) if row is not None else None
