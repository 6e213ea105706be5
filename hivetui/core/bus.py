"""The message bus: durable inboxes with long-poll receive and backpressure.

A harness receives under lease (``recv`` with ``ack``): every hand-out to a turn counts as
one attempt, and a message is acknowledged only by a later ``ack`` covering it, which the
harness sends after a turn that ended ok. A turn that failed leaves its messages in the
inbox (``turn_failed`` records why); once a message has been handed to ``max_attempts``
turns without one succeeding it is set aside as *dead*: kept in the store, listed by
``dead()``, never handed out again, and reported through ``on_dead``. Nothing is
acknowledged and then forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hivetui.core.bounded import quoted
from hivetui.core.config import BusConfig
from hivetui.core.errors import BackpressureError, BusError, NotFoundError, StoreError
from hivetui.core.events import EventHub, MessageSent, MessagesReceived
from hivetui.core.group_insert import GroupInsert
from hivetui.core.kinds import MessageKind
from hivetui.core.names import OPERATOR, SYSTEM
from hivetui.core.registry import Registry
from hivetui.core.rows import Columns
from hivetui.core.store import Store

log = logging.getLogger(__name__)

BUSY_WINDOW_S = 0.1  # an inbox read from this recently is busy: its long-polls linger


@dataclass(frozen=True)
class BusMessage:
    id: int
    sender: str
    recipient: str
    kind: MessageKind
    body: str
    ts: float
    delivered_at: float | None = None
    attempts: int = 0  # turns this message was handed to
    dead_at: float | None = None  # set aside after max_attempts failed turns
    last_failure: str = ""  # why the last turn that had it failed

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sender": self.sender, "recipient": self.recipient,
                "kind": self.kind, "body": self.body, "ts": self.ts,
                "delivered_at": self.delivered_at, "attempts": self.attempts,
                "dead_at": self.dead_at, "last_failure": self.last_failure}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BusMessage:
        return cls(int(d["id"]), d["sender"], d["recipient"], d["kind"], d["body"],
                   float(d["ts"]), d.get("delivered_at"), int(d.get("attempts") or 0),
                   d.get("dead_at"), str(d.get("last_failure") or ""))


DeadHandler = Callable[[list[BusMessage]], Awaitable[None]]

_COLS = Columns(id="id", sender="sender", recipient="recipient", kind="kind", body="body",
                ts="created_at", delivered_at="delivered_at", attempts="attempts",
                dead_at="dead_at", last_failure="last_failure")
#: the reason kept for a message whose turns never reported (the harness died in them)
UNREPORTED = "handed to turns that never reported an end (harness killed or bridge lost)"


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _wait(waiter: asyncio.Future[None], timeout: float,
                gone: asyncio.Future[None] | None) -> None:
    """Wait for ``waiter``, at most ``timeout`` seconds, or until ``gone`` completes.

    Plain callbacks rather than ``asyncio.wait_for`` (a task per wait on Python 3.11).
    """
    timer = asyncio.get_running_loop().call_later(timeout, _settle, waiter)

    def on_gone(_: asyncio.Future[None]) -> None:
        _settle(waiter)

    if gone is not None:
        gone.add_done_callback(on_gone)
    try:
        await waiter
    finally:
        timer.cancel()
        if gone is not None:
            gone.remove_done_callback(on_gone)


def _stored_size(body: str) -> int:
    """UTF-8 size of ``body``; refuse text that is not valid Unicode (a lone UTF-16
    surrogate cannot be stored)."""
    try:
        return len(body.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise BusError(
            f"message body is not valid Unicode: a lone surrogate {body[exc.start]!r} at "
            f"character {exc.start}; send text that encodes as UTF-8"
        ) from None


MAX_KEY_CHARS = 200


def _digest(body: str) -> bytes:
    return hashlib.blake2b(body.encode("utf-8"), digest_size=16).digest()


@dataclass(frozen=True)
class _Keyed:
    """What a keyed send keeps for its window: enough to answer a retry, not the body."""

    id: int
    kind: MessageKind
    recipient: str
    digest: bytes
    ts: float

    @classmethod
    def of(cls, msg: BusMessage) -> _Keyed:
        return cls(msg.id, msg.kind, msg.recipient, _digest(msg.body), msg.ts)


def _checked_key(key: object) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS or not key.isprintable():
        raise BusError(f"idempotency_key must be printable text of 1 to {MAX_KEY_CHARS} "
                       f"characters, got {quoted(key)}")
    return key


def _msg(row: tuple[Any, ...]) -> BusMessage:
    fields = _COLS.read(row)
    return BusMessage(**{**fields, "id": int(fields["id"]), "ts": float(fields["ts"]),
                         "attempts": int(fields["attempts"])})


def _id_list(ids: object, limit: int) -> list[int]:
    if not isinstance(ids, list | tuple) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise BusError("message ids must be a list of positive integers")
    if len(ids) > limit:
        raise BusError(f"at most {limit} message ids at once (bus.max_recv_batch)")
    return list(ids)


class MessageBus:
    """Inboxes for agents and the operator; ``system`` only ever sends."""

    def __init__(self, store: Store, registry: Registry, hub: EventHub, config: BusConfig,
                 max_attempts: int = 3) -> None:
        self._store = store
        self._registry = registry
        self._hub = hub
        self.config = config
        self.max_attempts = max_attempts  # harness.max_attempts
        #: told of messages set aside as dead (the hive notifies the manager and operator)
        self.on_dead: DeadHandler | None = None
        self._depth: dict[str, int] = {}
        self._dead: dict[str, int] = {}  # messages set aside, per inbox
        # per inbox, the futures of the receivers waiting on it: a send settles them all
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._leased: dict[str, int] = {}  # highest id handed out under lease, per inbox
        self._last_take: dict[str, float] = {}  # monotonic time of the last take, per inbox
        # concurrent sends share one commit (each still returns only once it is durable)
        self._inserts = GroupInsert(store, "messages", ("sender", "recipient", "kind", "body",
                                                        "created_at", "idem_key"))
        # (sender, idempotency key) -> what was sent with it, oldest first, within
        # bus.idempotency_window_s; a future while that send is still being committed
        self._keyed: OrderedDict[tuple[str, str], _Keyed | asyncio.Future[BusMessage]] = \
            OrderedDict()
        self._draining = False

    async def load(self) -> None:
        rows = await self._store.fetchall(
            "SELECT recipient, COUNT(*) FROM messages WHERE delivered_at IS NULL "
            "GROUP BY recipient"
        )
        self._depth = {r[0]: int(r[1]) for r in rows}
        since = time.time() - self.config.idempotency_window_s
        keyed = await self._store.fetchall(
            f"SELECT {_COLS}, idem_key FROM messages WHERE idem_key IS NOT NULL "
            "AND created_at > ? ORDER BY id", (since,))
        messages = [(_msg(r), r[-1]) for r in keyed]  # r[-1]: the idem_key after _COLS
        self._keyed = OrderedDict(((m.sender, key), _Keyed.of(m)) for m, key in messages)
        rows = await self._store.fetchall(
            "SELECT recipient, COUNT(*) FROM messages WHERE dead_at IS NOT NULL "
            "GROUP BY recipient")
        self._dead = {r[0]: int(r[1]) for r in rows}

    # --- queries ---------------------------------------------------------------
    def depth(self, name: str) -> int:
        """Undelivered messages waiting in ``name``'s inbox, live."""
        return self._depth.get(name, 0)

    def dead_count(self, name: str) -> int:
        """Messages to ``name`` set aside as dead, live."""
        return self._dead.get(name, 0)

    def _kind(self, sender: str) -> MessageKind:
        if sender == OPERATOR:
            return "operator"
        if sender == SYSTEM:
            return "system"
        manager = self._registry.manager()
        if manager is not None and manager.name == sender:
            return "manager"
        return "peer"

    def _check_participant(self, name: str, role: str) -> None:
        if name in (OPERATOR, SYSTEM) and role == "sender":
            return
        if name == OPERATOR:
            return
        if name == SYSTEM:
            raise BusError("'system' has no inbox: it only sends")
        if not isinstance(name, str) or self._registry.find(name) is None:
            raise NotFoundError(
                f"unknown {role} {quoted(name)}: must be an agent of this hive or 'operator'"
            )

    # --- send / recv -----------------------------------------------------------
    async def send(self, sender: str, recipient: str, body: str,
                   idempotency_key: str | None = None) -> BusMessage:
        """Commit a message to ``recipient``'s inbox; returns once it is durable.

        With ``idempotency_key``, a send repeated by the same sender with the same key
        within ``bus.idempotency_window_s`` returns the first one's message and stores
        nothing (a retry after a lost reply); the same key for another message is refused.
        """
        if idempotency_key is None:
            return await self._send(sender, recipient, body, None)
        key = (sender, _checked_key(idempotency_key))
        self._forget_old_keys()
        earlier = self._keyed.get(key)
        if earlier is None:
            pending: asyncio.Future[BusMessage] = asyncio.get_running_loop().create_future()
            self._keyed[key] = pending
            try:
                msg = await self._send(sender, recipient, body, idempotency_key)
            except BaseException as exc:
                del self._keyed[key]  # not sent: the key stays free for a retry
                if isinstance(exc, asyncio.CancelledError):
                    pending.cancel()
                else:
                    pending.set_exception(exc)
                    pending.exception()  # retrieved: there may be no waiter to re-raise it
                raise
            self._keyed[key] = _Keyed.of(msg)
            pending.set_result(msg)
            return msg
        if isinstance(earlier, _Keyed):
            first = earlier
        else:  # the same send, arrived twice at once: the second waits for the first
            await asyncio.wait({earlier})
            if earlier.cancelled():  # the first never got sent: this one goes
                return await self.send(sender, recipient, body, idempotency_key)
            first = _Keyed.of(earlier.result())
        if (first.recipient, first.digest) != (recipient, _digest(body)):
            raise BusError(f"idempotency key {quoted(idempotency_key)} was used by message "
                           f"#{first.id} for another recipient or text; use a new key for a "
                           "new message")
        return BusMessage(first.id, sender, recipient, first.kind, body, first.ts)

    def _forget_old_keys(self) -> None:
        horizon = time.time() - self.config.idempotency_window_s
        while self._keyed:
            key, sent = next(iter(self._keyed.items()))
            if not isinstance(sent, _Keyed) or sent.ts > horizon:
                return  # oldest first: the rest are newer
            del self._keyed[key]

    async def _send(self, sender: str, recipient: str, body: str, key: str | None) -> BusMessage:
        self._check_participant(sender, "sender")
        self._check_participant(recipient, "recipient")
        if not isinstance(body, str):
            raise BusError(f"message body must be text, got {type(body).__name__}")
        size = _stored_size(body)
        if size > self.config.max_body_bytes:
            raise BusError(
                f"message body is {size} bytes; the limit is {self.config.max_body_bytes} bytes "
                "(bus.max_body_bytes)"
            )
        if size == 0 or not body.strip():
            raise BusError("message body is empty; send some text")
        depth = self._depth.get(recipient, 0)
        if recipient != OPERATOR and depth >= self.config.max_inbox_depth:
            raise BackpressureError(
                f"inbox of {recipient!r} is full ({depth} unread, limit "
                f"{self.config.max_inbox_depth}, bus.max_inbox_depth); retry after it reads"
            )
        kind = self._kind(sender)
        now = time.time()
        # reserve the slot before awaiting so concurrent sends cannot overshoot the limit
        self._depth[recipient] = depth + 1
        try:
            msg_id = await self._inserts.insert((sender, recipient, kind, body, now, key))
        except StoreError as exc:
            self._depth[recipient] -= 1
            # the store's words name tables and sqlite internals: the log keeps them
            log.error("bus: a message from %s to %s was not stored: %s", sender, recipient, exc)
            raise BusError("the message was not stored (the hive's store refused it; "
                           "the operator's log says why); nothing was sent") from exc
        except BaseException:
            self._depth[recipient] -= 1
            raise
        for waiter in self._waiters.get(recipient, ()):
            _settle(waiter)
        msg = BusMessage(msg_id, sender, recipient, kind, body, now)
        self._hub.publish(MessageSent(id=msg_id, sender=sender, recipient=recipient, kind=kind,
                                      body=body, depth=self._depth[recipient]))
        return msg

    async def recv(self, recipient: str, wait_s: float = 0.0, max_count: int = 20,
                   ack: int | None = None, *, gone: asyncio.Future[None] | None = None
                   ) -> list[BusMessage]:
        """Take up to ``max_count`` messages, waiting up to ``wait_s`` for the first.

        Without ``ack`` the messages returned count as delivered at once (at most once).
        With ``ack`` (the id of the last message the caller has fully handled, 0 for none)
        the messages up to it become delivered and those returned stay in the inbox until
        a later ``ack`` covers them: a caller that dies mid-turn gets them again (at least
        once). The harness uses this; a plain tool call does not need to.

        ``gone`` completes when the caller went away (its HTTP client disconnected): a wait
        then ends with nothing taken, so an abandoned long-poll never swallows the next
        message.
        """
        self._check_participant(recipient, "recipient")
        if ack is not None and (isinstance(ack, bool) or not isinstance(ack, int) or ack < 0):
            raise BusError("ack must be a message id >= 0 (the last one handled), "
                           f"got {quoted(ack)}")
        if ack is not None:
            await self._ack(recipient, ack)
        if isinstance(wait_s, bool) or not isinstance(wait_s, int | float) or wait_s < 0 \
                or wait_s != wait_s:
            raise BusError(f"wait_s must be a number of seconds >= 0, got {quoted(wait_s)}")
        if isinstance(max_count, bool) or not isinstance(max_count, int) or not \
                1 <= max_count <= self.config.max_recv_batch:
            raise BusError(
                f"max must be an integer from 1 to {self.config.max_recv_batch}, "
                f"got {quoted(max_count)}"
            )
        wait_s = min(float(wait_s), self.config.max_wait_s)
        deadline = time.monotonic() + wait_s
        while True:
            if (gone is not None and gone.done()) or self._draining:
                return []
            # registered before the take, so a send landing during it is not missed
            with self._waiting(recipient) as waiter:
                got = await self._take(recipient, max_count, ack)
                if got:
                    self._last_take[recipient] = time.monotonic()
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                await _wait(waiter, remaining, gone)
            await self._linger(recipient, max_count, deadline, gone)

    @contextlib.contextmanager
    def _waiting(self, recipient: str) -> Iterator[asyncio.Future[None]]:
        """A future that the next send to ``recipient`` settles, while the block runs."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(recipient, set())
        waiters.add(waiter)
        try:
            yield waiter
        finally:
            waiters.discard(waiter)
            if not waiters:  # a destroyed agent's name leaves nothing behind
                self._waiters.pop(recipient, None)

    async def _linger(self, recipient: str, max_count: int, deadline: float,
                      gone: asyncio.Future[None] | None) -> None:
        """After a wake-up on a busy inbox, let more land (bus.recv_linger_ms) first."""
        now = time.monotonic()
        if now - self._last_take.get(recipient, -BUSY_WINDOW_S) >= BUSY_WINDOW_S:
            return  # idle inbox: deliver at once
        linger = min(self.config.recv_linger_ms / 1000, deadline - now)
        if linger <= 0 or not self._depth.get(recipient) or (gone is not None and gone.done()):
            return
        end = now + linger
        while self._depth.get(recipient, 0) < max_count:
            left = end - time.monotonic()
            if left <= 0:
                return
            with self._waiting(recipient) as waiter:
                await _wait(waiter, left, gone)
            if gone is not None and gone.done():
                return

    async def _ack(self, recipient: str, ack: int) -> None:
        """Mark ``recipient``'s messages up to ``ack`` delivered (they were handled)."""
        if not self._depth.get(recipient):
            return
        count = len(await self._store.execute_returning(
            "UPDATE messages SET delivered_at = ? WHERE recipient = ? AND delivered_at IS NULL "
            "AND id <= ? RETURNING id", (time.time(), recipient, ack)))
        if count > 0:
            self._depth[recipient] = max(0, self._depth.get(recipient, 0) - count)
            self._hub.publish(MessagesReceived(agent=recipient, count=count,
                                               depth=self._depth[recipient]))

    async def _take(self, recipient: str, max_count: int, ack: int | None = None
                    ) -> list[BusMessage]:
        if not self._depth.get(recipient):
            return []
        if ack is not None:
            return await self._lease(recipient, ack, max_count)
        now = time.time()
        # a plain recv never takes what the harness holds under lease (it is in that turn)
        after = self._leased.get(recipient, 0)
        # one statement (atomic, committed when it returns) in one trip to the store
        rows = await self._store.execute_returning(
            "UPDATE messages SET delivered_at = ? WHERE id IN (SELECT id FROM messages "
            "WHERE recipient = ? AND delivered_at IS NULL AND id > ? ORDER BY id LIMIT ?) "
            f"RETURNING {_COLS}", (now, recipient, after, max_count))
        if not rows:
            return []
        rows.sort(key=lambda r: int(r[0]))  # RETURNING has no defined order
        self._depth[recipient] = max(0, self._depth.get(recipient, 0) - len(rows))
        self._hub.publish(MessagesReceived(agent=recipient, count=len(rows),
                                           depth=self._depth[recipient]))
        return [_msg(r) for r in rows]

    async def _lease(self, recipient: str, ack: int, max_count: int) -> list[BusMessage]:
        """Hand messages out under lease (still in the inbox until acknowledged), one more
        attempt each. One already handed to ``max_attempts`` turns that never reported an
        end goes to the dead instead: a message that kills its harness cannot loop."""
        while True:
            rows = await self._store.execute_returning(
                "UPDATE messages SET attempts = attempts + 1 WHERE id IN (SELECT id FROM "
                "messages WHERE recipient = ? AND delivered_at IS NULL AND id > ? ORDER BY id "
                f"LIMIT ?) RETURNING {_COLS}", (recipient, ack, max_count))
            msgs = sorted((_msg(r) for r in rows), key=lambda m: m.id)
            spent = [m.id for m in msgs if m.attempts > self.max_attempts]
            if spent:
                await self._bury(recipient, spent, UNREPORTED)
            live = [m for m in msgs if m.id not in spent]
            if live or not spent:
                break
        if live:
            self._leased[recipient] = max(self._leased.get(recipient, 0), live[-1].id)
        return live

    async def ack(self, recipient: str, upto: int) -> None:
        """``recipient``'s messages up to ``upto`` were handled by a turn that ended ok."""
        self._check_participant(recipient, "recipient")
        if isinstance(upto, bool) or not isinstance(upto, int) or upto < 0:
            raise BusError(f"ack must be a message id >= 0 (the last one handled), got {upto!r}")
        await self._ack(recipient, upto)

    async def turn_failed(self, recipient: str, ids: Sequence[int], reason: str
                          ) -> list[BusMessage]:
        """A turn given ``ids`` failed: they stay in the inbox with ``reason`` kept; those
        handed to ``max_attempts`` turns now go to the dead (returned)."""
        self._check_participant(recipient, "recipient")
        wanted = _id_list(ids, self.config.max_recv_batch)
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        rows = await self._store.execute_returning(
            f"UPDATE messages SET last_failure = ? WHERE recipient = ? AND delivered_at IS NULL "
            f"AND id IN ({marks}) RETURNING id, attempts",
            (reason[:2000] or "turn failed", recipient, *wanted))
        spent = sorted(int(r[0]) for r in rows if int(r[1]) >= self.max_attempts)
        return await self._bury(recipient, spent, reason)

    async def _bury(self, recipient: str, ids: list[int], reason: str) -> list[BusMessage]:
        """Set ``ids`` aside as dead: out of the inbox, kept in the store, reported."""
        if not ids:
            return []
        now = time.time()
        rows = await self._store.execute_returning(
            "UPDATE messages SET delivered_at = ?, dead_at = ?, dead_untold = 1, "
            "last_failure = CASE "
            "WHEN last_failure = '' THEN ? ELSE last_failure END WHERE recipient = ? AND "
            f"dead_at IS NULL AND delivered_at IS NULL AND id IN ({','.join('?' * len(ids))}) "
            f"RETURNING {_COLS}", (now, now, reason[:2000], recipient, *ids))
        dead = sorted((_msg(r) for r in rows), key=lambda m: m.id)
        if not dead:
            return []
        self._depth[recipient] = max(0, self._depth.get(recipient, 0) - len(dead))
        self._dead[recipient] = self._dead.get(recipient, 0) + len(dead)
        self._hub.publish(MessagesReceived(agent=recipient, count=len(dead),
                                           depth=self._depth[recipient]))
        log.error("inbox %s: %s message(s) set aside as dead after %s attempts: %s",
                  recipient, len(dead), self.max_attempts, [m.id for m in dead])
        await self._tell_dead(dead)
        return dead

    async def _tell_dead(self, dead: list[BusMessage]) -> None:
        """Report ``dead`` (``on_dead``), then record that it was: at least once, even
        across a core killed in between (:meth:`tell_untold_dead` at start)."""
        if self.on_dead is not None:
            await self.on_dead(dead)
        marks = ",".join("?" * len(dead))
        await self._store.execute(f"UPDATE messages SET dead_untold = 0 WHERE id IN ({marks})",
                                  tuple(m.id for m in dead))

    async def tell_untold_dead(self) -> int:
        """At start: report the dead letters a previous core set aside but was killed
        before reporting; how many."""
        rows = await self._store.fetchall(
            f"SELECT {_COLS} FROM messages WHERE dead_untold = 1 ORDER BY id")
        if rows:
            await self._tell_dead([_msg(r) for r in rows])
        return len(rows)

    async def dead(self, name: str, limit: int = 100) -> list[BusMessage]:
        """Messages to ``name`` set aside as dead, oldest first."""
        rows = await self._store.fetchall(
            f"SELECT {_COLS} FROM messages WHERE recipient = ? AND dead_at IS NOT NULL "
            "ORDER BY id DESC LIMIT ?", (name, limit))
        return [_msg(r) for r in reversed(rows)]

    async def history(self, name: str, limit: int = 100, before_id: int | None = None
                      ) -> list[BusMessage]:
        """Recent messages to or from ``name``, oldest first."""
        cond = "(recipient = ? OR sender = ?)"
        params: list[Any] = [name, name]
        if before_id is not None:
            cond += " AND id < ?"
            params.append(before_id)
        rows = await self._store.fetchall(
            f"SELECT {_COLS} FROM messages WHERE {cond} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [_msg(r) for r in reversed(rows)]

    def drain_long_polls(self, draining: bool = True) -> None:
        """While draining (the bridge is stopping), every waiting receive returns now,
        taking nothing, and later ones do not wait, so no HTTP request is left for the
        server to cancel; ``drain_long_polls(False)`` ends it (a bridge serves again)."""
        self._draining = draining
        if draining:
            for waiters in self._waiters.values():
                for waiter in waiters:
                    _settle(waiter)
