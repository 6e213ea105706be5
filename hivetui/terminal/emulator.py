"""The VT emulator: a pyte screen, subclassed for what it lacks and what it gets wrong.

pyte 0.8.2 has no alternate screen, no useful scrollback for a live terminal, no
secondary DA, and several fidelity bugs (charsets ignored in UTF-8, VS16/ZWJ
cutting a run, DECSCNM destroying reverse video, ICH/DCH ghosts, NEL without CR).
This module adds or fixes, measured against xterm and tmux 3.3a:

* alternate screen (private modes 1049, 1047, 47; 1048 saves the cursor), the
  main screen restored on leave;
* scrollback kept by ``index()`` (lines scrolled off the top of a full-height
  region), never filled by the alternate screen;
* mode flags the widget needs: mouse reporting (9/1000/1002/1003, 1006 SGR
  encoding), bracketed paste (2004), application cursor keys (1), focus
  events (1004);
* replies to primary/secondary DA and DSR (status, cursor, DECXCPR);
* SU/SD scrolling, SCOSC/SCORC, REP, CBT, ED 3 clearing only the scrollback,
  DECSTR soft reset, NEL as CR + LF, DECCOLM clearing the screen (as tmux; the
  size stays);
* cells (``cells.Cell``) with dim, conceal and overline; SGR with ``:`` forms;
* DEC special graphics through G0/G1 and SO/SI; G1 starts as ASCII (xterm);
* Unicode drawing: combining marks, VS16 and ZWJ sequences join the previous
  cell (as tmux: a ZWJ family is one two-cell glyph), a wide character at the
  right margin wraps, unprintable characters are skipped, never ending the run;
* DECSCNM flips every cell's reverse flag and flips it back: reverse video
  survives a visual bell;
* speed: ASCII text is drawn in runs with shared ``Cell`` objects, SGR results
  are cached, and ``draw_lines`` takes a run of whole lines of one-cell
  characters (with SGR) at once: the buffer scrolls once per run, and its rows
  (``lines.PendingRow``) build their cells only when something reads them, so
  a flood costs a few operations per line whatever the screen height.

It must not import textual or rich: it is used headless (tests, benchmarks).
"""

from __future__ import annotations

import copy
import logging
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import pyte
from pyte import charsets
from pyte import modes as mo
from pyte.screens import Cursor, Margins, Savepoint, StaticDefaultDict, wcwidth

from hivetui.terminal.cells import (
    BLANK,
    BLANK_REVERSED,
    DEC_GRAPHICS_CHARSET,
    Cell,
    apply_sgr,
)
from hivetui.terminal.lines import (
    SGR_SPLIT,
    PendingRow,
    PlainRows,
    RowBuilder,
    pending_rows,
    plan_rows,
)
from hivetui.terminal.stream import TerminalStream

log = logging.getLogger(__name__)

Line = StaticDefaultDict[int, Cell]

#: Private modes the screen tracks for the widget (stored shifted, like pyte's).
MOUSE_X10 = 9
MOUSE_NORMAL = 1000
MOUSE_BUTTON = 1002
MOUSE_ANY = 1003
MOUSE_SGR = 1006
FOCUS_EVENTS = 1004
BRACKETED_PASTE = 2004
APP_CURSOR_KEYS = 1
_ALT_MODES = frozenset({47, 1047, 1049})
_DECCOLM = 3
_DECSCNM = 5

PRIMARY_DA_REPLY = "\x1b[?62;22c"  # VT220 with ANSI colour
SECONDARY_DA_REPLY = "\x1b[>1;10;0c"  # VT220, firmware 10

_MAX_GLYPH_TABLES = 512
_MAX_SGR_CACHE = 4096
_ZWJ = "\u200d"


_new_tuple = tuple.__new__


class _Glyphs(dict[str, Cell]):
    """Shared ``Cell`` objects for one set of attributes: drawing a character is a lookup."""

    def __init__(self, attrs: Cell) -> None:
        super().__init__()
        self.rest = tuple(attrs[1:])

    def __missing__(self, data: str) -> Cell:
        char: Cell = _new_tuple(Cell, (data, *self.rest))
        self[data] = char
        return char


class _Placement(NamedTuple):
    """Rows to place: how many, the cells of row i, row i as a pending row of its own, and
    pending rows for rows [a, b) that may be shared (scrollback only: never written)."""

    total: int
    cells: Callable[[int], list[Cell]]
    fresh: Callable[[int], Line]
    pending: Callable[[int, int], Iterable[Line]]


class TerminalCursor(Cursor):
    """pyte's cursor, holding our ``Cell`` attributes."""

    __slots__ = ()
    attrs: Cell  # type: ignore[assignment]  # pyte annotates its own Char


class TerminalScreen(pyte.Screen):
    """A pyte screen with alternate screen, scrollback, mode flags and replies."""

    # pyte annotates these with its own Char; every cell here is a ``Cell``.
    buffer: dict[int, Line]  # type: ignore[assignment]
    cursor: TerminalCursor

    def __init__(
        self,
        columns: int,
        lines: int,
        *,
        scrollback: int = 5000,
        reply: Callable[[str], None] | None = None,
    ) -> None:
        # Set before pyte's __init__, which calls reset().
        self.scrollback: deque[Line] = deque(maxlen=max(0, scrollback))
        self.in_alt_screen = False
        self._main_buffer: dict[int, Line] | None = None
        self._alt_savepoint: Savepoint | None = None
        self._glyphs: dict[Cell, _Glyphs] = {}
        self._sgr_cache: dict[tuple[Cell, tuple[int, ...], bool], Cell] = {}
        self._sgr_text_cache: dict[tuple[Cell, str, bool], Cell] = {}
        self.screen_reversed = False
        self._last_char = " "
        self.reply = reply
        self.bell_count = 0
        #: Lines scrolled off the top since creation (the widget follows it).
        self.scrolled_lines = 0
        super().__init__(columns, lines)

    # ----- modes ---------------------------------------------------------------

    def private_mode(self, mode: int) -> bool:
        return (mode << 5) in self.mode

    @property
    def mouse_tracking(self) -> int:
        """The mouse mode the program asked for (0 when it asked for none)."""
        for mode in (MOUSE_ANY, MOUSE_BUTTON, MOUSE_NORMAL, MOUSE_X10):
            if (mode << 5) in self.mode:
                return mode
        return 0

    @property
    def mouse_sgr(self) -> bool:
        return (MOUSE_SGR << 5) in self.mode

    @property
    def bracketed_paste(self) -> bool:
        return (BRACKETED_PASTE << 5) in self.mode

    @property
    def app_cursor_keys(self) -> bool:
        return (APP_CURSOR_KEYS << 5) in self.mode

    @property
    def focus_events(self) -> bool:
        return (FOCUS_EVENTS << 5) in self.mode

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if not kwargs.get("private"):
            super().set_mode(*modes, **kwargs)
            return
        rest = []
        for mode in modes:
            if mode in _ALT_MODES:
                self.enter_alt_screen(save_cursor=mode == 1049, clear=mode != 47)
            elif mode == 1048:
                self._save_alt_cursor()
            elif mode == _DECCOLM:
                self._column_mode()
            elif mode == _DECSCNM:
                self._reverse_screen(True)
            else:
                rest.append(mode)
        if rest:
            super().set_mode(*rest, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if not kwargs.get("private"):
            super().reset_mode(*modes, **kwargs)
            return
        rest = []
        for mode in modes:
            if mode in _ALT_MODES:
                self.leave_alt_screen(restore_cursor=mode == 1049, clear=mode == 1047)
            elif mode == 1048:
                self._restore_alt_cursor()
            elif mode == _DECCOLM:
                self._column_mode()
            elif mode == _DECSCNM:
                self._reverse_screen(False)
            else:
                rest.append(mode)
        if rest:
            super().reset_mode(*rest, **kwargs)

    def _column_mode(self) -> None:
        """DECCOLM: the size never changes on a program's request; the screen clears (tmux)."""
        self.erase_in_display(2)
        self.cursor_position()

    def _reverse_screen(self, on: bool) -> None:
        """DECSCNM: flip every cell's reverse flag (and the cursor's); flipping back restores."""
        if on == self.screen_reversed:
            return
        self.screen_reversed = on
        if on:
            self.mode.add(mo.DECSCNM)
        else:
            self.mode.discard(mo.DECSCNM)
        for line in self.buffer.values():
            line.default = line.default._replace(reverse=not line.default.reverse)
            for x, cell in line.items():
                line[x] = cell._replace(reverse=not cell.reverse)
        attrs = self.cursor.attrs
        self.cursor.attrs = attrs._replace(reverse=not attrs.reverse)
        self.dirty.update(range(self.lines))

    @property
    def default_char(self) -> Cell:  # type: ignore[override]  # pyte's is its own Char
        return BLANK_REVERSED if mo.DECSCNM in self.mode else BLANK

    def soft_reset(self) -> None:
        """DECSTR (``CSI ! p``): modes, margins, charsets, attributes and saved cursor to defaults.

        The screen and the cursor position stay (xterm).
        """
        self._reverse_screen(False)
        self.mode.difference_update({mo.IRM, mo.DECOM, mo.DECSCNM, APP_CURSOR_KEYS << 5})
        self.mode.update({mo.DECAWM, mo.DECTCEM})
        self.cursor.hidden = False
        self.margins = None
        self.charset = 0
        self.g0_charset = self.g1_charset = charsets.LAT1_MAP
        self.cursor.attrs = self.default_char
        self.savepoints = []

    # ----- alternate screen ----------------------------------------------------

    def _save_alt_cursor(self) -> None:
        stack, self.savepoints = self.savepoints, []
        self.save_cursor()
        self._alt_savepoint = self.savepoints.pop()
        self.savepoints = stack

    def _restore_alt_cursor(self) -> None:
        if self._alt_savepoint is None:
            return
        stack, self.savepoints = self.savepoints, [self._alt_savepoint]
        self.restore_cursor()
        self.savepoints = stack

    def _new_buffer(self) -> dict[int, Line]:
        factory = self.buffer.default_factory  # type: ignore[attr-defined]
        return type(self.buffer)(factory)

    def enter_alt_screen(self, *, save_cursor: bool = True, clear: bool = True) -> None:
        """Switch to the alternate screen; the main screen is kept aside untouched."""
        if save_cursor:
            self._save_alt_cursor()
        if self.in_alt_screen:
            if clear:
                self.buffer.clear()
                self.dirty.update(range(self.lines))
            return
        self._main_buffer = self.buffer
        self.buffer = self._new_buffer()
        self.in_alt_screen = True
        self.dirty.update(range(self.lines))

    def leave_alt_screen(self, *, restore_cursor: bool = True, clear: bool = False) -> None:
        """Back to the main screen as it was when the alternate one was entered."""
        del clear  # the alternate buffer is dropped either way; it starts blank next time
        if self.in_alt_screen and self._main_buffer is not None:
            main = self._main_buffer
            for y in [y for y in main if y >= self.lines]:
                del main[y]
            for line in main.values():
                for x in [x for x in line if x >= self.columns]:
                    del line[x]
            self.buffer = main
            self._main_buffer = None
            self.in_alt_screen = False
            self.dirty.update(range(self.lines))
        if restore_cursor:
            self._restore_alt_cursor()

    def reset(self) -> None:
        if getattr(self, "in_alt_screen", False):
            self.in_alt_screen = False
            self._main_buffer = None
        self.screen_reversed = False
        super().reset()
        self.g1_charset = charsets.LAT1_MAP  # xterm and tmux: G1 is ASCII until designated
        self.cursor = TerminalCursor(0, 0, self.default_char)  # type: ignore[arg-type]
        self._alt_savepoint = None

    # ----- scrolling and scrollback ------------------------------------------

    def _scroll_up(self, top: int, bottom: int) -> None:
        """Move lines top+1..bottom up by one; line ``top`` leaves (to scrollback if at the top)."""
        buf = self.buffer
        if top == 0 and not self.in_alt_screen:
            self.scrollback.append(buf[0])
            self.scrolled_lines += 1
        for y in range(top, bottom):
            buf[y] = buf[y + 1]
        buf.pop(bottom, None)
        dirty = self.dirty
        if dirty and len(dirty) < self.lines:  # every row dirty stays every row dirty
            self.dirty = {y - 1 if top < y <= bottom else y for y in dirty if y != top}
        self.dirty.add(bottom)

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y == bottom:
            self._scroll_up(top, bottom)
        else:
            self.cursor_down()

    def scroll_up(self, count: int | None = None, *args: Any) -> None:
        """SU: scroll the region up, the cursor stays."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        for _ in range(min(count or 1, bottom - top + 1)):
            self._scroll_up(top, bottom)

    def scroll_down(self, count: int | None = None, *args: Any) -> None:
        """SD: scroll the region down, the cursor stays."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        buf = self.buffer
        for _ in range(min(count or 1, bottom - top + 1)):
            for y in range(bottom, top, -1):
                buf[y] = buf[y - 1]
            buf.pop(top, None)
        self.dirty.update(range(top, bottom + 1))

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if how == 3:  # xterm: erase saved lines only
            self.scrollback.clear()
            return
        super().erase_in_display(how, *args, **kwargs)

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize; when lines shrink, lines above the cursor go to scrollback."""
        lines = lines or self.lines
        columns = columns or self.columns
        if lines == self.lines and columns == self.columns:
            return
        buf = self.buffer
        if lines < self.lines:
            drop = max(0, self.cursor.y - (lines - 1))
            if drop:
                if not self.in_alt_screen:
                    for y in range(drop):
                        self.scrollback.append(buf[y])
                    self.scrolled_lines += drop
                moved = {y - drop: buf[y] for y in range(drop, self.lines) if y in buf}
                buf.clear()
                buf.update(moved)
                self.cursor.y -= drop
            for y in [y for y in buf if y >= lines]:
                del buf[y]
        if columns < self.columns:
            for line in buf.values():
                for x in [x for x in line if x >= columns]:
                    del line[x]
        if columns > self.columns:
            self.tabstops.update(range(8 * ((self.columns + 7) // 8), columns, 8))
        self.lines, self.columns = lines, columns
        self.margins = None
        self.dirty = set(range(lines))
        self.ensure_hbounds()
        self.ensure_vbounds()

    @property
    def display(self) -> list[str]:
        """The screen as text; a cell's text may join characters (VS16, ZWJ sequences)."""
        return [self._row_text(self.buffer[y]) for y in range(self.lines)]

    def _row_text(self, line: Line) -> str:
        parts = []
        after_wide = False
        for x in range(self.columns):
            data = line[x].data
            if after_wide and data == "":
                after_wide = False
                continue  # the right half of a wide character
            parts.append(data)
            after_wide = data > "\x7f" and wcwidth(data[0]) == 2
        return "".join(parts)

    # ----- drawing -------------------------------------------------------------

    def _glyph_table(self, attrs: Cell) -> _Glyphs:
        glyphs = self._glyphs.get(attrs)
        if glyphs is None:
            if len(self._glyphs) >= _MAX_GLYPH_TABLES:
                self._glyphs.clear()
            glyphs = self._glyphs[attrs] = _Glyphs(attrs)
        return glyphs

    def _plain_charset(self) -> bool:
        return (self.g1_charset if self.charset else self.g0_charset) is charsets.LAT1_MAP

    def define_charset(self, code: str, mode: str) -> None:
        """``ESC ( c`` / ``ESC ) c``: ``0`` is DEC Special Graphics; any other is ASCII (tmux)."""
        table = DEC_GRAPHICS_CHARSET if code == "0" else charsets.LAT1_MAP
        if mode == "(":
            self.g0_charset = table
        elif mode == ")":
            self.g1_charset = table

    def draw(self, data: str) -> None:
        """Draw text; runs of printable ASCII take a fast path with the same result."""
        if not data:
            return
        self._last_char = data[-1]
        mode = self.mode
        if (
            not (data.isascii() and data.isprintable())
            or mo.IRM in mode
            or mo.DECAWM not in mode
            or not self._plain_charset()
        ):
            self._draw_cells(data)
            return
        cursor = self.cursor
        columns = self.columns
        glyph = self._glyph_table(cursor.attrs).__getitem__
        pos, end = 0, len(data)
        while pos < end:
            if cursor.x >= columns:
                self.dirty.add(cursor.y)
                cursor.x = 0
                self.linefeed()
            x = cursor.x
            take = min(columns - x, end - pos)
            cells = map(glyph, data[pos : pos + take])
            line = self.buffer[cursor.y]
            self._mend_wide(line, x, x + take)
            line.update(zip(range(x, x + take), cells, strict=False))
            cursor.x = x + take
            pos += take
        self.dirty.add(cursor.y)

    def _draw_cells(self, data: str) -> None:
        """Character by character: charsets, wide and zero-width characters, IRM, no autowrap."""
        data = data.translate(self.g1_charset if self.charset else self.g0_charset)
        cursor = self.cursor
        joining = False
        for char in data:
            width = wcwidth(char)
            if joining or (width == 0 and (char == _ZWJ or unicodedata.category(char) != "Cc")):
                self._join_previous(char)
                joining = char == _ZWJ
                continue
            if width < 0:
                continue  # unprintable: drawn as nothing, the run goes on
            if cursor.x + width > self.columns:
                if mo.DECAWM in self.mode:
                    self.dirty.add(cursor.y)
                    self.carriage_return()
                    self.linefeed()
                else:
                    cursor.x = self.columns - width
            if mo.IRM in self.mode:
                self.insert_characters(width)
            self._put(char, width)
        self.dirty.add(cursor.y)

    def _put(self, char: str, width: int) -> None:
        cursor = self.cursor
        line = self.buffer[cursor.y]
        x = cursor.x
        self._mend_wide(line, x, x + width)
        attrs = cursor.attrs
        line[x] = attrs._replace(data=char)
        if width == 2:
            line[x + 1] = attrs._replace(data="")
        cursor.x = x + width
        self.dirty.add(cursor.y)

    def _mend_wide(self, line: Line, start: int, end: int) -> None:
        """Before cells [start, end) are written: a wide character cut in half goes blank."""
        if start > 0 and line[start].data == "":
            line[start - 1] = self.default_char  # its right half is overwritten
        if end < self.columns and line[end].data == "":
            line[end] = self.default_char  # its left half is overwritten

    def _join_previous(self, char: str) -> None:
        """A zero-width character (combining mark, VS16, ZWJ and what it joins) joins the cell."""
        cursor = self.cursor
        y, x = cursor.y, min(cursor.x, self.columns) - 1
        if x < 0:
            if y == 0:
                return
            y, x = y - 1, self.columns - 1
        line = self.buffer[y]
        if line[x].data == "" and x > 0:
            x -= 1  # the stub of a wide character: join the character itself
        cell = line[x]
        line[x] = cell._replace(data=unicodedata.normalize("NFC", cell.data + char))
        self.dirty.add(y)

    # ----- the bulk path: whole lines at once -------------------------------------

    def _region(self) -> tuple[int, int]:
        """The scrolling region's top and bottom rows (the whole screen without margins)."""
        margins = self.margins
        return (0, self.lines - 1) if margins is None else (margins.top, margins.bottom)

    def bulk_ready(self) -> bool:
        """Whether ``draw_lines`` may run: the cursor in the scrolling region, autowrap, no
        IRM, plain charset."""
        top, bottom = self._region()
        return (
            top <= self.cursor.y <= bottom
            and mo.DECAWM in self.mode
            and mo.IRM not in self.mode
            and self._plain_charset()
        )

    def draw_lines(self, run: str) -> None:
        """Draw ``run``, whole lines of one-cell characters and SGR ended by CR LF, from column 0.

        The same screen, scrollback and attributes as drawing each line then CR LF, but
        the scrolling region scrolls once for the run, only the rows that stay (in the
        region or in scrollback) are listed, and scrollback rows build their cells when
        first read.
        """
        texts = run.split("\r\n")
        texts.pop()
        top, bottom = self._region()
        history = (self.scrollback.maxlen or 0) if self._to_history(top) else 0
        keep = bottom - top + 1 + history
        for text in reversed(texts):  # REP repeats the last character drawn, lines back if need be
            visible = SGR_SPLIT.sub("", text)
            if visible:
                self._last_char = visible[-1]
                break
        # Rows may be built later: they keep the SGR rules of now (DECSCNM may change).
        sgr = self._sgr_reversed if self.screen_reversed else self._sgr_plain
        builder = RowBuilder(self.columns, sgr, self._glyph_cells)
        if "\x1b" not in run and max(map(len, texts)) <= self.columns:
            kept = texts[-keep:]  # plain lines, one row each
            dropped = len(texts) - len(kept)
            plain = PlainRows(self.cursor.attrs, self.default_char, builder)
            placed = _Placement(
                len(kept),
                cells=lambda i: self._glyph_cells(plain.attrs, kept[i]),
                fresh=lambda i: plain.fresh(kept[i]),
                pending=lambda a, b: map(plain.__getitem__, kept[a:b]),
            )
        else:
            plan = plan_rows(texts, self.cursor.attrs, columns=self.columns, keep=keep, sgr=sgr)
            self.cursor.attrs = plan.attrs
            dropped = plan.dropped
            default = self.default_char
            placed = _Placement(
                len(plan.rows),
                cells=lambda i: builder.cells(plan.rows[i]),
                fresh=lambda i: PendingRow(default, plan.rows[i], builder),
                pending=lambda a, b: pending_rows(plan.rows[a:b], default, builder),
            )
        if dropped:
            for y in range(self.cursor.y, bottom + 1):
                self.buffer.pop(y, None)  # what the dropped rows overwrote, then scrolled away
        self._place_rows(placed, dropped)

    def graphic_rendition_text(self, params: str) -> None:
        """SGR with its parameters as text (``"1;31"``), as ``select_graphic_rendition``."""
        attrs = self.cursor.attrs
        self.cursor.attrs = self._sgr_text(attrs, params, screen_reversed=self.screen_reversed)

    def _sgr_plain(self, attrs: Cell, params: str) -> Cell:
        return self._sgr_text(attrs, params, screen_reversed=False)

    def _sgr_reversed(self, attrs: Cell, params: str) -> Cell:
        return self._sgr_text(attrs, params, screen_reversed=True)

    def _sgr_text(self, attrs: Cell, params: str, *, screen_reversed: bool) -> Cell:
        """Attributes after ``CSI params m`` (parameters as text), cached like SGR."""
        key = (attrs, params, screen_reversed)
        cached = self._sgr_text_cache.get(key)
        if cached is None:
            numbers = tuple(min(int(p or 0), 9999) for p in params.split(";"))
            cached = apply_sgr(attrs, numbers, screen_reversed=screen_reversed)
            if len(self._sgr_text_cache) >= _MAX_SGR_CACHE:
                self._sgr_text_cache.clear()
            self._sgr_text_cache[key] = cached
        return cached

    def _glyph_cells(self, attrs: Cell, text: str) -> list[Cell]:
        return list(map(self._glyph_table(attrs).__getitem__, text))

    def _to_history(self, top: int) -> bool:
        """Whether lines scrolled off the top of a region starting at ``top`` are kept."""
        return top == 0 and not self.in_alt_screen

    def _place_rows(self, rows: _Placement, dropped: int) -> None:
        """Write ``rows`` from the cursor row down (each ended by a line feed), scrolling the
        region once. ``dropped`` rows were drawn before them and scrolled out of sight."""
        buf = self.buffer
        top, bottom = self._region()
        height = bottom - top + 1
        y0 = self.cursor.y - top  # rows from here on are relative to the region's top
        total = rows.total
        fit = min(total, height - y0)
        for i in range(fit):
            cells = rows.cells(i)
            line = buf[top + y0 + i]
            self._mend_wide(line, 0, len(cells))
            line.update(enumerate(cells))
        end = y0 + total + 1  # the row the last line feed reaches, counted past the bottom
        shift = max(0, end - height)
        to_history = self._to_history(top)
        if to_history:
            self.scrolled_lines += shift + dropped
        if shift:
            default = self.default_char
            region: list[Line] = [buf[top + y] for y in range(height)]
            first_shown = max(fit, shift - height + fit)  # rows from here on stay in the region
            region += rows.pending(fit, first_shown)
            region += map(rows.fresh, range(first_shown, total))
            region.extend(Line(default) for _ in range(end - len(region)))
            if to_history:
                self.scrollback.extend(region[:shift])
            buf.update(zip(range(top, bottom + 1), region[shift:], strict=True))
            self.dirty = {y if y < top or y > bottom else y - shift for y in self.dirty
                          if y < top or y > bottom or y - shift >= top}
        self.dirty.update(range(top + max(0, y0 - shift), bottom + 1))
        self.cursor.y = top + min(end, height) - 1
        self.cursor.x = 0

    def repeat_last_character(self, count: int | None = None, *args: Any) -> None:
        """REP: draw the last drawn character ``count`` more times."""
        self.draw(self._last_char * min(count or 1, self.columns * self.lines))

    def insert_characters(self, count: int | None = None) -> None:
        """ICH: blanks at the cursor, the rest of the line moves right; cells past the edge go."""
        self._shift_line(min(count or 1, self.columns), right=True)

    def delete_characters(self, count: int | None = None) -> None:
        """DCH: cells at the cursor go, the rest of the line moves left; blanks come in."""
        self._shift_line(min(count or 1, self.columns), right=False)

    def _shift_line(self, count: int, *, right: bool) -> None:
        x0, columns = min(self.cursor.x, self.columns - 1), self.columns
        line = self.buffer[self.cursor.y]
        kept = {x: c for x, c in line.items() if x < x0}
        for x, cell in line.items():
            moved = x + count if right else x - count
            if x >= x0 and x0 <= moved < columns:
                kept[moved] = cell
        line.clear()
        line.update(kept)
        self.dirty.add(self.cursor.y)

    def delete_lines(self, count: int | None = None) -> None:
        """DL: lines at the cursor go, lines below move up, blank lines come in at the bottom."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        y0 = self.cursor.y
        if not top <= y0 <= bottom:
            return
        count = min(count or 1, bottom - y0 + 1)
        buf = self.buffer
        for y in range(y0, bottom + 1):
            source = buf.pop(y + count, None) if y + count <= bottom else None
            if source is None:
                buf.pop(y, None)
            else:
                buf[y] = source
        self.dirty.update(range(y0, bottom + 1))
        self.carriage_return()

    def next_line(self) -> None:
        """NEL: carriage return and index."""
        self.carriage_return()
        self.index()

    def cursor_back_tab(self, count: int | None = None) -> None:
        """CBT: back ``count`` tab stops (column 0 at most)."""
        for _ in range(count or 1):
            stops = [stop for stop in self.tabstops if stop < self.cursor.x]
            self.cursor.x = max(stops, default=0)

    def select_graphic_rendition(self, *attrs: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            return
        key = (self.cursor.attrs, attrs, self.screen_reversed)
        cached = self._sgr_cache.get(key)
        if cached is None:
            cached = apply_sgr(self.cursor.attrs, attrs, screen_reversed=self.screen_reversed)
            if len(self._sgr_cache) >= _MAX_SGR_CACHE:
                self._sgr_cache.clear()
            self._sgr_cache[key] = cached
        self.cursor.attrs = cached

    def save_cursor_sco(self, *args: Any) -> None:
        self.save_cursor()

    def restore_cursor_sco(self, *args: Any) -> None:
        self.restore_cursor()

    def bell(self, *args: Any) -> None:
        self.bell_count += 1

    # ----- replies ------------------------------------------------------------

    def report_device_attributes(self, mode: int = 0, **kwargs: bool) -> None:
        if mode == 0 and not kwargs.get("private"):
            self.write_process_input(PRIMARY_DA_REPLY)

    def report_secondary_device_attributes(self, mode: int = 0) -> None:
        if mode == 0:
            self.write_process_input(SECONDARY_DA_REPLY)

    def report_device_status(self, mode: int = 0, **kwargs: Any) -> None:
        if mode == 5:
            self.write_process_input("\x1b[0n")
        elif mode == 6:
            y = self.cursor.y + 1
            if mo.DECOM in self.mode and self.margins is not None:
                y -= self.margins.top
            x = min(self.cursor.x, self.columns - 1) + 1
            mark = "?" if kwargs.get("private") else ""
            self.write_process_input(f"\x1b[{mark}{y};{x}R")

    def write_process_input(self, data: str) -> None:
        if self.reply is not None:
            self.reply(data)

    def debug(self, *args: Any, **kwargs: Any) -> None:
        """Unrecognised sequences are ignored (pyte calls this for them)."""

    def copy_line(self, y: int) -> Line:
        """A detached copy of screen line ``y`` (tests, selection)."""
        return copy.copy(self.buffer[y])


class Emulator:
    """Screen + stream: feed the PTY's bytes, read the screen, get replies via ``reply``."""

    def __init__(
        self,
        columns: int = 80,
        lines: int = 24,
        *,
        scrollback: int = 5000,
        reply: Callable[[str], None] | None = None,
    ) -> None:
        self.screen = TerminalScreen(columns, lines, scrollback=scrollback, reply=reply)
        self.stream = TerminalStream(self.screen)

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)

    def resize(self, columns: int, lines: int) -> None:
        self.screen.resize(lines=lines, columns=columns)

    @property
    def display(self) -> list[str]:
        return self.screen.display

    def text(self) -> str:
        """The screen as text, trailing spaces stripped (tests, debugging)."""
        return "\n".join(line.rstrip() for line in self.screen.display)
