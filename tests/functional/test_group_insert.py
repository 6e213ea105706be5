"""Group commit of concurrent INSERTs on a real sqlite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hivetui.core.errors import StoreError
from hivetui.core.group_insert import GroupInsert
from hivetui.core.store import Store

COLS = ("sender", "recipient", "kind", "body", "created_at")


async def test_concurrent_inserts_share_commits_and_keep_arrival_order(tmp_path: Path) -> None:
    async with Store(tmp_path / "h.sqlite3") as store:
        group = GroupInsert(store, "messages", COLS)
        ids = await asyncio.gather(*[group.insert(("a", "b", "peer", f"m{i}", 1.0))
                                     for i in range(50)])
        assert ids == sorted(ids) and len(set(ids)) == 50
        assert group.batches < 50  # rows that arrived together went together
        # each id is the row its caller inserted, and all are committed
        with sqlite3.connect(store.path) as other:
            rows = dict(other.execute("SELECT id, body FROM messages").fetchall())
        assert [rows[i] for i in ids] == [f"m{i}" for i in range(50)]
        # alone, a row goes at once as a batch of one
        before = group.batches
        await group.insert(("a", "b", "peer", "alone", 2.0))
        assert group.batches == before + 1


async def test_a_bad_row_fails_alone(tmp_path: Path) -> None:
    async with Store(tmp_path / "h.sqlite3") as store:
        group = GroupInsert(store, "messages", COLS)
        rows = [("a", "b", "peer", "ok1", 1.0), ("a", "b", "gossip", "bad", 1.0),
                ("a", "b", "peer", "ok2", 1.0)]
        results = await asyncio.gather(*[group.insert(r) for r in rows],
                                       return_exceptions=True)
        assert isinstance(results[1], StoreError)
        assert "CHECK constraint failed" in str(results[1])
        assert isinstance(results[0], int) and isinstance(results[2], int)
        with sqlite3.connect(store.path) as other:
            bodies = [r[0] for r in other.execute("SELECT body FROM messages ORDER BY id")]
        assert bodies == ["ok1", "ok2"]
        with pytest.raises(StoreError, match="needs 5 values"):
            await group.insert(("a", "b"))
