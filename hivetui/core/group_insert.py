"""Group commit for single-row INSERTs that arrive at the same time (the bus's sends).

Each caller still returns only once its row is committed; while one batch is in the
store's thread, the rows that arrive meanwhile wait and go together as the next batch:
one multi-row INSERT, one commit and one trip to the connection's thread for all of them
instead of one each. Alone, a row goes at once (a batch of one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aiosqlite

from hivetui.core.errors import StoreError
from hivetui.core.store import Store

log = logging.getLogger(__name__)

# SQLite binds at most 32766 parameters per statement; stay far below it.
MAX_BATCH_PARAMS = 1000
# What one row's values can make the statement raise: a constraint, a value sqlite cannot
# bind (ValueError: text with a lone surrogate; OverflowError: an int beyond 64 bits).
_ROW_ERRORS = (aiosqlite.Error, ValueError, OverflowError)


class GroupInsert:
    """``await GroupInsert(store, "messages", ("sender", ...)).insert(row)`` → new id.

    The table must have an INTEGER PRIMARY KEY ``id`` that SQLite assigns (ids of a
    multi-row INSERT then ascend in VALUES order). A batch that fails as a whole (one bad
    row) is retried row by row, so only the bad row's caller sees the error.
    """

    def __init__(self, store: Store, table: str, columns: Sequence[str]) -> None:
        self._store = store
        self._cols = tuple(columns)
        self._head = f"INSERT INTO {table} ({', '.join(self._cols)}) VALUES "
        self._row = "(" + ",".join("?" * len(self._cols)) + ")"
        self._max_rows = max(1, MAX_BATCH_PARAMS // len(self._cols))
        self._pending: list[tuple[Sequence[Any], asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # trips to the store so far (for tests and benchmarks)

    async def insert(self, row: Sequence[Any]) -> int:
        if len(row) != len(self._cols):
            raise StoreError(f"insert needs {len(self._cols)} values "
                             f"({', '.join(self._cols)}), got {len(row)}")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="store-group-insert")
        # the flusher is never cancelled by a caller: a caller that stops waiting leaves
        # its row to be committed all the same (as a single INSERT would have been)
        return await done

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[:self._max_rows]
            del self._pending[:len(batch)]
            try:
                await self._write(batch)
            except BaseException as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(StoreError(f"insert not committed: {exc!r}"))
                if not isinstance(exc, Exception):
                    raise
                log.warning("group insert failed: %r", exc)

    async def _write(self, batch: list[tuple[Sequence[Any], asyncio.Future[int]]]) -> None:
        self.batches += 1
        sql = self._head + ",".join([self._row] * len(batch)) + " RETURNING id"
        params = [v for row, _ in batch for v in row]
        try:
            rows = await self._store.execute_returning(sql, params)
        except _ROW_ERRORS as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(StoreError(f"insert refused by the store: {exc}"))
                return
            for one in batch:  # find the bad row: the others still go in
                await self._write([one])
            return
        ids = sorted(int(r[0]) for r in rows)
        if len(ids) != len(batch):
            raise StoreError(f"insert of {len(batch)} rows returned {len(ids)} ids")
        for (_, fut), new_id in zip(batch, ids, strict=True):
            if not fut.done():
                fut.set_result(new_id)
