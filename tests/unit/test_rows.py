"""Rows are read by name: the SELECT list and the record's fields come from one mapping."""

from __future__ import annotations

import sqlite3

import pytest

from hivetui.core.rows import Columns


def test_fields_come_from_their_columns_whatever_the_table_order() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (b TEXT, commit_sha TEXT, a INTEGER, extra TEXT)")
    db.execute("INSERT INTO t VALUES ('bee', 'c0ffee', 1, 'x')")
    cols = Columns(a="a", commit="commit_sha", b="b")
    row = db.execute(f"SELECT {cols}, extra FROM t").fetchone()
    assert str(cols) == "a, commit_sha, b"
    assert cols.read(row) == {"a": 1, "commit": "c0ffee", "b": "bee"}


def test_a_short_row_is_refused() -> None:
    with pytest.raises(ValueError):
        Columns(a="a", b="b").read((1,))
