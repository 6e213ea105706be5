"""Turn transcripts: what each agent's turns said, called and got back, kept per turn.

Harnesses push events (``core.transcript_format``) with :meth:`Transcripts.ingest`, in
batches, tagged with their own key for the turn; the core numbers turns per agent (a key
it saw before, even before a restart, continues its turn). Ingesting never waits on the
disk: events join a buffer written by :meth:`run` every ``flush_interval_s`` in one
transaction, then go to the live followers.

Followers (:meth:`follow`) each have a bounded queue: one that falls behind loses the
oldest batches and gets a ``dropped`` event counting them, so a slow viewer never slows
an agent. The current action of each agent (``Bash: pytest -q``, ``thinking…``) and
since when is kept in memory; changes are announced as ``AgentChanged(what="action")`` at
most once per flush.

Retention (``transcript.keep_turns``, ``transcript.keep_bytes``, per agent) removes the
oldest whole turns after a turn ends; a turn that alone outgrows ``keep_bytes`` keeps its
first events and counts the rest as dropped. A kill loses at most the unflushed buffer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from hivetui.core.config import TranscriptConfig
from hivetui.core.errors import HiveError
from hivetui.core.events import AgentChanged, EventHub
from hivetui.core.store import Store
from hivetui.core.transcript_format import (
    END_NUMBERS,
    MAX_BATCH,
    TranscriptRefused,
    action_of,
    clean_event,
    searchable,
    summary,
)

log = logging.getLogger(__name__)

FOLLOW_QUEUE_EVENTS = 2000  # a follower further behind than this loses the oldest
TURN_COLUMNS = ("agent", "turn", "turn_key", "started_at", "ended_at", "outcome", "model",
                *END_NUMBERS, "events", "bytes", "dropped")
MAX_KEY_CHARS = 100
UNFINISHED = "unfinished"


@dataclass
class _Turn:
    """A turn in memory: its header row (as stored) and the next event number."""

    row: dict[str, Any]
    seq: int = 0


@dataclass(eq=False)  # each follower is itself (kept in a set)
class _Follower:
    agent: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    batches: deque[dict[str, Any]] = field(default_factory=deque)
    queued: int = 0
    dropped: int = 0

    def offer(self, batch: dict[str, Any]) -> None:
        self.batches.append(batch)
        self.queued += len(batch["events"])
        while self.queued > FOLLOW_QUEUE_EVENTS and len(self.batches) > 1:
            old = self.batches.popleft()
            self.queued -= len(old["events"])
            self.dropped += len(old["events"])
        self.wake.set()


class Transcripts:
    def __init__(self, store: Store, hub: EventHub, config: TranscriptConfig,
                 flush_interval_s: float = 0.25, clock: Callable[[], float] = time.time
                 ) -> None:
        self._store = store
        self._hub = hub
        self.config = config
        self.flush_interval_s = flush_interval_s
        self.clock = clock  # the core's time for every event (tests freeze it)
        self._turns: dict[tuple[str, str], _Turn] = {}  # (agent, key) -> open turn
        self._latest: dict[str, int] = {}  # agent -> its newest turn number
        self._rows: list[tuple[str, int, int, float, str, str]] = []
        self._dirty_turns: dict[tuple[str, int], dict[str, Any]] = {}
        self._retain_due: set[str] = set()
        self._actions: dict[str, tuple[str, float]] = {}
        self._action_dirty: set[str] = set()
        self._followers: set[_Follower] = set()
        self._lock = asyncio.Lock()
        self._opening = asyncio.Lock()  # one turn per new key, even from concurrent calls
        self.ingested = 0

    # --- in ---------------------------------------------------------------------------
    async def ingest(self, agent: str, turn_key: str, raw_events: list[Any]) -> int:
        """Take a batch of ``agent``'s events for its turn ``turn_key``; the turn number."""
        if not isinstance(turn_key, str) or not 0 < len(turn_key) <= MAX_KEY_CHARS:
            raise HiveError(f"transcript: turn_key must be a string of 1 to {MAX_KEY_CHARS} "
                            "characters")
        if not isinstance(raw_events, list) or len(raw_events) > MAX_BATCH:
            raise HiveError(f"transcript: events must be a list of at most {MAX_BATCH}")
        now = self.clock()
        try:
            events = [clean_event(raw, now) for raw in raw_events]
        except TranscriptRefused as exc:
            raise HiveError(f"transcript: {exc}") from None
        turn = await self._turn(agent, turn_key, events, now)
        kept = self._append(agent, turn, events)
        if kept:
            self._publish(agent, turn.row["turn"], kept)
        return int(turn.row["turn"])

    async def _turn(self, agent: str, key: str, events: list[dict[str, Any]], now: float
                    ) -> _Turn:
        turn = self._turns.get((agent, key))
        if turn is not None:
            return turn
        async with self._opening:
            return self._turns.get((agent, key)) or await self._open(agent, key, events, now)

    async def _open(self, agent: str, key: str, events: list[dict[str, Any]], now: float
                    ) -> _Turn:
        row = await self._store.fetchone(
            f"SELECT {', '.join(TURN_COLUMNS)} FROM transcript_turns "
            "WHERE agent = ? AND turn_key = ?", (agent, key))
        if row is not None:  # a turn begun before the core restarted
            seq = await self._store.fetchone(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM transcript_events "
                "WHERE agent = ? AND turn = ?", (agent, row[1]))
            turn = _Turn(dict(zip(TURN_COLUMNS, row, strict=True)), int(seq[0]) if seq else 0)
        else:
            number = await self.latest_turn(agent) + 1
            model = next((e.get("model", "") for e in events if e["kind"] == "prompt"), "")
            turn = _Turn({"agent": agent, "turn": number, "turn_key": key, "started_at": now,
                          "ended_at": None, "outcome": "", "model": model,
                          **dict.fromkeys(END_NUMBERS, 0), "events": 0, "bytes": 0,
                          "dropped": 0})
            self._latest[agent] = number
            self._dirty_turns[(agent, number)] = turn.row
            await self._close_unfinished(agent, number)
        self._turns[(agent, key)] = turn
        return turn

    async def _close_unfinished(self, agent: str, before: int) -> None:
        """A new turn began: the agent's earlier turns that never ended (its harness died,
        or their ``end`` was lost) are marked ``unfinished``; retention runs (an agent
        opening turns without end must not grow past it)."""
        for (other_agent, other_key), other in list(self._turns.items()):
            if other_agent == agent:
                del self._turns[(other_agent, other_key)]
                if not other.row["outcome"]:
                    other.row["outcome"] = UNFINISHED
                    self._dirty_turns[(agent, other.row["turn"])] = other.row
        await self._store.execute(
            "UPDATE transcript_turns SET outcome = ? WHERE agent = ? AND turn < ? AND "
            "outcome = ''", (UNFINISHED, agent, before))
        self._retain_due.add(agent)

    def _append(self, agent: str, turn: _Turn, events: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
        row = turn.row
        kept: list[dict[str, Any]] = []
        for event in events:
            data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
            if event["kind"] == "end":
                row["ended_at"], row["outcome"] = event["ts"], event["outcome"]
                for key in END_NUMBERS:
                    row[key] = event[key]
                self._retain_due.add(agent)
            elif row["bytes"] + len(data) > self.config.keep_bytes:
                row["dropped"] += 1  # the turn alone outgrew the retention
                continue
            if event["kind"] == "dropped":
                row["dropped"] += int(event["count"])
            event["seq"] = turn.seq
            turn.seq += 1
            row["events"] += 1
            row["bytes"] += len(data)
            self._rows.append((agent, row["turn"], event["seq"], event["ts"], event["kind"],
                               data))
            kept.append(event)
            self._set_action(agent, action_of(event), event["ts"])
        self._dirty_turns[(agent, row["turn"])] = row
        self.ingested += len(kept)
        return kept

    def _set_action(self, agent: str, action: str | None, ts: float) -> None:
        current = self._actions.get(agent)
        if action is None:
            if current is not None:
                del self._actions[agent]
                self._action_dirty.add(agent)
        elif current is None or current[0] != action:
            self._actions[agent] = (action, ts)
            self._action_dirty.add(agent)

    def action(self, agent: str) -> tuple[str, float] | None:
        """What ``agent`` is doing in its turn now and since when (None: not in a turn)."""
        return self._actions.get(agent)

    def _publish(self, agent: str, turn: int, events: list[dict[str, Any]]) -> None:
        batch = {"agent": agent, "turn": turn, "events": events}
        for follower in self._followers:
            if follower.agent == agent:
                follower.offer(batch)

    # --- the writer -------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._rows = self._rows, []
            turns, self._dirty_turns = self._dirty_turns, {}
            due, self._retain_due = self._retain_due, set()
            if rows or turns:
                async with self._store.transaction() as db:
                    await db.executemany(
                        f"INSERT OR REPLACE INTO transcript_turns ({', '.join(TURN_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(TURN_COLUMNS))})",
                        [tuple(t[c] for c in TURN_COLUMNS) for t in turns.values()])
                    await db.executemany(
                        "INSERT OR REPLACE INTO transcript_events (agent, turn, seq, ts, kind, "
                        "data) VALUES (?,?,?,?,?,?)", rows)
            for agent in sorted(due):
                await self._retain(agent)
        dirty, self._action_dirty = self._action_dirty, set()
        for agent in sorted(dirty):
            self._hub.publish(AgentChanged(agent=agent, what="action"))

    async def _retain(self, agent: str) -> None:
        """Drop ``agent``'s oldest whole turns past ``keep_turns`` or ``keep_bytes``."""
        rows = await self._store.fetchall(
            "SELECT turn, bytes FROM transcript_turns WHERE agent = ? ORDER BY turn DESC",
            (agent,))
        total, cut_below = 0, None
        for index, (turn, size) in enumerate(rows):
            total += int(size)
            if index >= self.config.keep_turns or (index and total > self.config.keep_bytes):
                cut_below = int(turn) + 1
                break
        if cut_below is None:
            return
        async with self._store.transaction() as db:
            await db.execute("DELETE FROM transcript_events WHERE agent = ? AND turn < ?",
                             (agent, cut_below))
            await db.execute("DELETE FROM transcript_turns WHERE agent = ? AND turn < ?",
                             (agent, cut_below))
        log.info("transcripts of %s: turns before %s removed (retention)", agent, cut_below)

    async def forget(self, agent: str) -> None:
        """Remove everything of ``agent`` (purged)."""
        async with self._lock:
            self._rows = [r for r in self._rows if r[0] != agent]
            self._dirty_turns = {k: v for k, v in self._dirty_turns.items() if k[0] != agent}
            for key in [k for k in self._turns if k[0] == agent]:
                del self._turns[key]
            self._latest.pop(agent, None)
            self._actions.pop(agent, None)
            async with self._store.transaction() as db:
                await db.execute("DELETE FROM transcript_events WHERE agent = ?", (agent,))
                await db.execute("DELETE FROM transcript_turns WHERE agent = ?", (agent,))

    # --- out --------------------------------------------------------------------------
    async def latest_turn(self, agent: str) -> int:
        if agent not in self._latest:
            row = await self._store.fetchone(
                "SELECT COALESCE(MAX(turn), 0) FROM transcript_turns WHERE agent = ?", (agent,))
            self._latest[agent] = int(row[0]) if row else 0
        return self._latest[agent]

    async def turns(self, agent: str, limit: int = 100) -> list[dict[str, Any]]:
        """``agent``'s newest turns' headers, oldest first."""
        await self.flush()
        rows = await self._store.fetchall(
            f"SELECT {', '.join(TURN_COLUMNS)} FROM transcript_turns WHERE agent = ? "
            "ORDER BY turn DESC LIMIT ?", (agent, limit))
        return [dict(zip(TURN_COLUMNS, r, strict=True)) for r in reversed(rows)]

    async def events(self, agent: str, turn: int) -> list[dict[str, Any]]:
        await self.flush()
        rows = await self._store.fetchall(
            "SELECT data, seq FROM transcript_events WHERE agent = ? AND turn = ? ORDER BY seq",
            (agent, turn))
        return [{**json.loads(data), "seq": seq} for data, seq in rows]

    async def turn(self, agent: str, turn: int | None = None) -> dict[str, Any]:
        """One turn (the newest when ``turn`` is None): ``{"turn": header, "events": [...],
        "turns": [numbers kept]}``; ``turn`` is None in it when the agent has none."""
        await self.flush()
        numbers = [int(r[0]) for r in await self._store.fetchall(
            "SELECT turn FROM transcript_turns WHERE agent = ? ORDER BY turn", (agent,))]
        wanted = numbers[-1] if turn is None and numbers else turn
        if wanted is None:
            return {"turn": None, "events": [], "turns": numbers}
        if wanted not in numbers:
            kept = f"{numbers[0]} to {numbers[-1]}" if numbers else "none"
            raise HiveError(f"{agent} has no turn {wanted} in its transcripts (kept: {kept})")
        row = await self._store.fetchone(
            f"SELECT {', '.join(TURN_COLUMNS)} FROM transcript_turns WHERE agent = ? "
            "AND turn = ?", (agent, wanted))
        header = dict(zip(TURN_COLUMNS, row or (), strict=True))
        return {"turn": header, "events": await self.events(agent, wanted), "turns": numbers}

    async def grep(self, text: str, limit: int = 200, agent: str | None = None
                   ) -> list[dict[str, Any]]:
        """Events whose content contains ``text`` (case-insensitive), newest first."""
        needle = text.strip()
        if not 0 < len(needle) <= 200:
            raise HiveError("grep: the text must be 1 to 200 characters")
        if not 1 <= limit <= 5000:
            raise HiveError(f"grep: limit must be from 1 to 5000, got {limit}")
        await self.flush()
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where = "data LIKE ? ESCAPE '\\'" + (" AND agent = ?" if agent else "")
        params: tuple[Any, ...] = (pattern, agent) if agent else (pattern,)
        hits: list[dict[str, Any]] = []
        # LIKE matches the JSON text (escapes, keys): keep the hits whose values match
        for a, turn, seq, data in await self._store.fetchall(
                f"SELECT agent, turn, seq, data FROM transcript_events WHERE {where} "
                "ORDER BY ts DESC LIMIT ?", (*params, limit * 4)):
            event = json.loads(data)
            if needle.lower() not in searchable(event).lower():
                continue
            hits.append({"agent": a, "turn": turn, "seq": seq, "kind": event["kind"],
                         "ts": event["ts"], "line": summary(event)})
            if len(hits) >= limit:
                break
        return hits

    async def cost(self, agent: str, since: float) -> dict[str, Any]:
        """The CLI's own figures for ``agent``'s turns that ended after ``since``."""
        await self.flush()
        row = await self._store.fetchone(
            "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(tokens_in), 0), "
            "COALESCE(SUM(tokens_out), 0) FROM transcript_turns WHERE agent = ? AND "
            "ended_at >= ?", (agent, since))
        turns, spent, tokens_in, tokens_out = row or (0, 0.0, 0, 0)
        return {"turns": int(turns), "cost_usd": float(spent), "tokens_in": int(tokens_in),
                "tokens_out": int(tokens_out),
                "cost_per_turn_usd": float(spent) / turns if turns else 0.0}

    async def follow(self, agent: str) -> AsyncIterator[dict[str, Any]]:
        """The newest turn as it is now, then every batch as it comes. Each item is
        ``{"agent", "turn", "events"}``; a follower that fell behind gets a ``dropped``
        event (``count``) in place of the batches it lost."""
        follower = _Follower(agent)
        self._followers.add(follower)
        try:
            snapshot = await self.turn(agent)
            header = snapshot["turn"]
            seen = (header["turn"], max((e["seq"] for e in snapshot["events"]), default=-1)) \
                if header else (0, -1)
            yield {"agent": agent, "turn": seen[0], "events": snapshot["events"],
                   "header": header, "turns": snapshot["turns"], "snapshot": True}
            while True:
                await follower.wake.wait()
                follower.wake.clear()
                while follower.batches:
                    batch = follower.batches.popleft()
                    follower.queued -= len(batch["events"])
                    events = [e for e in batch["events"]
                              if (batch["turn"], e["seq"]) > seen]
                    if follower.dropped:
                        events.insert(0, {"kind": "dropped", "ts": self.clock(),
                                          "count": follower.dropped, "seq": -1})
                        follower.dropped = 0
                    if events:
                        yield {"agent": agent, "turn": batch["turn"], "events": events}
        finally:
            self._followers.discard(follower)

