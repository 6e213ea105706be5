"""Rows read by name: one mapping from a record's fields to the columns they come from.

``COLS = Columns(id="id", commit="commit_sha", ...)``; ``f"SELECT {COLS} FROM t"`` selects
exactly those columns in that order, and ``COLS.read(row)`` gives the record's fields by
name, so a column added, renamed or reordered in one place cannot shift a value into the
wrong field. Columns selected after them (``SELECT {COLS}, token_hash``) are left to the
caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Columns:
    def __init__(self, **columns: str) -> None:
        self.columns = columns  # field name -> column

    def __str__(self) -> str:
        return ", ".join(self.columns.values())

    def read(self, row: Sequence[Any]) -> dict[str, Any]:
        """The record's fields of ``row`` (a row selected with ``SELECT {self}, …``)."""
        return dict(zip(self.columns, row[:len(self.columns)], strict=True))
