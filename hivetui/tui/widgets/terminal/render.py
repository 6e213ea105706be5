"""Emulator lines to Textual ``Strip``s, with cached styles.

The 16 ANSI colours are drawn from the terminal's own palette (``palette.XTERM``
unless another is given) as explicit RGB, never as ANSI numbers: Textual maps
those through the UI theme, which merges red with bright red and hides some
backgrounds. ``default`` is the widget's own (theme) colour. Dim, conceal and
overline are drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby
from operator import itemgetter

from pyte.screens import wcwidth
from rich.cells import cell_len
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from hivetui.terminal.cells import PALETTE_INDEX, Cell
from hivetui.terminal.palette import XTERM, Rgb

#: A cell's attributes without its data (``Cell`` fields from ``fg`` on).
AttrKey = tuple[str, str, bool, bool, bool, bool, bool, bool, bool, bool, bool]

_MAX_STYLES = 4096
_data = itemgetter(0)
_attrs = itemgetter(*range(1, len(Cell._fields)))


def cell_color(name: str, palette: Sequence[Rgb] = XTERM) -> Color | None:
    """A cell's colour (``default``, ``red``, ``brightred``, ``ff8700``) as a Rich colour."""
    if name == "default":
        return None
    number = PALETTE_INDEX.get(name)
    if number is not None:
        return Color.from_rgb(*palette[number])
    if len(name) == 6:
        try:
            return Color.from_rgb(int(name[0:2], 16), int(name[2:4], 16), int(name[4:6], 16))
        except ValueError:
            return None
    return None


class LineRenderer:
    """Turns emulator lines into strips of exactly ``width`` cells."""

    def __init__(self, palette: Sequence[Rgb] = XTERM) -> None:
        self.palette = tuple(palette)
        self.base = Style()
        self._styles: dict[tuple[AttrKey, bool], Style] = {}
        self._blank: dict[int, Strip] = {}

    def set_base(self, base: Style) -> None:
        """The widget's own style (theme colours for the program's "default")."""
        if base != self.base:
            self.base = base
            self._styles.clear()
            self._blank.clear()

    def style(self, key: AttrKey, cursor: bool = False) -> Style:
        cached = self._styles.get((key, cursor))
        if cached is not None:
            return cached
        fg, bg, bold, italics, underscore, strike, reverse, blink, dim, conceal, overline = key
        style = self.base + Style(
            color=cell_color(fg, self.palette),
            bgcolor=cell_color(bg, self.palette),
            bold=bold or None,
            dim=dim or None,
            italic=italics or None,
            underline=underscore or None,
            strike=strike or None,
            reverse=reverse != cursor,
            blink=blink or None,
            conceal=conceal or None,
            overline=overline or None,
        )
        if len(self._styles) >= _MAX_STYLES:
            self._styles.clear()
        self._styles[(key, cursor)] = style
        return style

    def blank(self, width: int) -> Strip:
        strip = self._blank.get(width)
        if strip is None:
            strip = self._blank[width] = Strip([Segment(" " * width, self.base)], width)
        return strip

    def render(self, line: Mapping[int, Cell], width: int, cursor_x: int = -1) -> Strip:
        """One line; ``cursor_x`` (or -1) is drawn with reversed colours."""
        if not line and cursor_x < 0:
            return self.blank(width)
        if cursor_x < 0:
            # Fast path: the per-cell work is done by C iterators (map, join, groupby).
            chars = list(map(line.__getitem__, range(width)))
            text = "".join(map(_data, chars))
            if len(text) == width and text.isascii():
                style = self.style
                segments = []
                start = 0
                for key, group in groupby(map(_attrs, chars)):
                    end = start + sum(1 for _ in group)
                    segments.append(Segment(text[start:end], style(key)))
                    start = end
                return Strip(segments, width)
        return self._render_cells(line, width, cursor_x)

    def _render_cells(self, line: Mapping[int, Cell], width: int, cursor_x: int) -> Strip:
        """Cell by cell: wide characters, stubs, the cursor."""
        segments: list[Segment] = []
        append = segments.append
        style = self.style
        run: tuple[object, ...] | None = None
        text: list[str] = []
        cells = 0
        skip = False
        for x in range(width):
            char = line[x]
            data = char[0]
            if skip:
                skip = False
                if data == "":
                    continue
            if data == "":
                data = " "
            elif data > "\x7f":
                data, skip = _glyph(data, x + 1 < width)
            key = char[1:]
            if x == cursor_x:
                if text:
                    append(Segment("".join(text), style(run)))  # type: ignore[arg-type]
                append(Segment(data, style(key, True)))
                run, text = None, []
            elif key != run:
                if text:
                    append(Segment("".join(text), style(run)))  # type: ignore[arg-type]
                run, text = key, [data]
            else:
                text.append(data)
            cells += 2 if skip else 1
        if text:
            append(Segment("".join(text), style(run)))  # type: ignore[arg-type]
        strip = Strip(segments, cells)
        if cells != width:
            strip = strip.adjust_cell_length(width, self.base)
        return strip


def _glyph(data: str, room_for_two: bool) -> tuple[str, bool]:
    """A non-ASCII cell's text as drawn, and whether it takes two cells.

    A sequence Rich would measure wider than the cell (``❤`` + VS16: one cell, as
    in tmux and xterm) is drawn as its base character, so the strip keeps its width.
    """
    wide = wcwidth(data[0]) == 2
    if wide and not room_for_two:
        return " ", False  # a wide character cut at the right edge
    if len(data) > 1 and cell_len(data) != (2 if wide else 1):
        data = data[0]
    return data, wide
