"""Runs of whole lines (printable ASCII and SGR) turned into screen rows, most of them lazily.

``plan_rows`` reads a run of lines once: where each line's SGR sequences leave the
attributes, how many rows the line wraps to, and which rows are still kept once
the run has scrolled (the screen plus the scrollback). A kept row is a ``RowRef``
(line, which of its rows); ``PendingRow`` is a scrollback row that builds its
cells the first time anything reads it, so a flood costs a few operations per
line, not one per cell. Rows are pure functions of (text, attributes at the start
of the line): drawing a row now or later gives the same cells.
No textual or rich import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from pyte.screens import StaticDefaultDict

from hivetui.terminal.cells import Cell

SGR_SPLIT = re.compile(r"\x1b\[([0-9;]*)m")
_RESETS = frozenset({"", "0"})

#: (attributes, SGR parameter text) -> attributes after them.
Sgr = Callable[[Cell, str], Cell]
#: (attributes, text) -> one cell per character.
Glyphs = Callable[[Cell, str], list[Cell]]


class LineSource(NamedTuple):
    """One line of a run: its text (with SGR), the attributes it starts with, its visible length."""

    text: str
    attrs: Cell
    visible: int


class RowRef(NamedTuple):
    line: LineSource
    #: Which of the line's rows (0 is the first).
    part: int


class RowPlan(NamedTuple):
    rows: list[RowRef]
    #: Rows drawn before ``rows`` that scroll out of the screen and the scrollback.
    dropped: int
    #: Attributes after the run's last SGR.
    attrs: Cell


_new_tuple = tuple.__new__


def plan_rows(texts: list[str], attrs: Cell, *, columns: int, keep: int, sgr: Sgr) -> RowPlan:
    """The rows ``texts`` (whole lines from column 0) wrap to; only the last ``keep`` are listed."""
    sources = []
    for text in texts:
        if "\x1b" in text:
            parts = SGR_SPLIT.split(text)
            sources.append(_new_tuple(LineSource, (text, attrs, sum(map(len, parts[::2])))))
            attrs = _after(attrs, parts[1::2], sgr)
        else:
            sources.append(_new_tuple(LineSource, (text, attrs, len(text))))
    rows: list[RowRef] = []
    append = rows.append
    for position in range(len(sources) - 1, -1, -1):
        if len(rows) >= keep:
            rest = sum(max(1, -(-source.visible // columns)) for source in sources[: position + 1])
            return RowPlan(rows[keep - 1 :: -1], len(rows) - keep + rest, attrs)
        source = sources[position]
        if source.visible <= columns:
            append(_new_tuple(RowRef, (source, 0)))
        else:
            for index in range(-(-source.visible // columns) - 1, -1, -1):
                append(_new_tuple(RowRef, (source, index)))
    return RowPlan(rows[keep - 1 :: -1], max(0, len(rows) - keep), attrs)  # rows were newest first


def _after(attrs: Cell, params: list[str], sgr: Sgr) -> Cell:
    """Attributes after a line's SGR parameter texts (from its last plain reset on)."""
    if params[-1] in _RESETS:
        return sgr(attrs, params[-1])
    for param in params:
        attrs = sgr(attrs, param)
    return attrs


def line_cells(source: LineSource, sgr: Sgr, glyphs: Glyphs) -> list[Cell]:
    """Every visible character of a line as a cell."""
    if "\x1b" not in source.text:
        return glyphs(source.attrs, source.text)
    cells: list[Cell] = []
    attrs = source.attrs
    for index, part in enumerate(SGR_SPLIT.split(source.text)):
        if index % 2:
            attrs = sgr(attrs, part)
        elif part:
            cells += glyphs(attrs, part)
    return cells


class RowBuilder:
    """Cells of planned rows; a line wrapped to several rows is parsed once."""

    def __init__(self, columns: int, sgr: Sgr, glyphs: Glyphs) -> None:
        self.columns = columns
        self._sgr = sgr
        self._glyphs = glyphs
        self._last: tuple[LineSource | None, list[Cell]] = (None, [])

    def cells(self, row: RowRef) -> list[Cell]:
        source, cells = self._last
        if source is not row.line:
            cells = line_cells(row.line, self._sgr, self._glyphs)
            self._last = (row.line, cells)
        start = row.part * self.columns
        return cells[start : start + self.columns]


class PendingRow(StaticDefaultDict[int, Cell]):
    """A row that builds its cells when first read or written (any access but ``default``).

    On the screen it is an ordinary line once built; in the scrollback most rows of
    a flood are never read, so never built.
    """

    def __init__(self, default: Cell, row: RowRef, builder: RowBuilder) -> None:
        self.default = default
        self._pending: tuple[RowRef, RowBuilder] | None = (row, builder)

    def _build(self) -> None:
        if self._pending is not None:
            row, builder = self._pending
            self._pending = None
            dict.update(self, enumerate(builder.cells(row)))

    def __missing__(self, key: int) -> Cell:
        if self._pending is None:
            return self.default
        self._build()
        return dict.get(self, key, self.default)

    def __len__(self) -> int:
        self._build()
        return dict.__len__(self)

    def __iter__(self) -> Iterator[int]:
        self._build()
        return dict.__iter__(self)

    def __contains__(self, key: object) -> bool:
        self._build()
        return dict.__contains__(self, key)

    def __setitem__(self, key: int, value: Cell) -> None:
        self._build()
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: int) -> None:
        self._build()
        dict.__delitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._build()
        dict.update(self, *args, **kwargs)

    def pop(self, key: int, *default: Any) -> Any:
        self._build()
        return dict.pop(self, key, *default)

    def clear(self) -> None:
        self._pending = None
        dict.clear(self)

    def get(self, key: int, default: Any = None) -> Any:
        self._build()
        return dict.get(self, key, default)

    def keys(self) -> Any:
        self._build()
        return dict.keys(self)

    def values(self) -> Any:
        self._build()
        return dict.values(self)

    def items(self) -> Any:
        self._build()
        return dict.items(self)


class PlainRows(dict[str, PendingRow]):
    """Pending rows of plain one-row lines drawn with ``attrs``; identical lines share one row.

    Sharing is safe: a scrollback row is never written again.
    """

    def __init__(self, attrs: Cell, default: Cell, builder: RowBuilder) -> None:
        super().__init__()
        self.attrs = attrs
        self._default = default
        self._builder = builder

    def __missing__(self, text: str) -> PendingRow:
        row = self[text] = self.fresh(text)
        return row

    def fresh(self, text: str) -> PendingRow:
        """A row of its own (for the screen, where it may be written)."""
        return PendingRow(
            self._default, RowRef(LineSource(text, self.attrs, len(text)), 0), self._builder
        )


def pending_rows(rows: list[RowRef], default: Cell, builder: RowBuilder) -> list[PendingRow]:
    return [PendingRow(default, row, builder) for row in rows]
