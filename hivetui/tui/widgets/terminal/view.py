"""What the widget shows: the live screen or a window into scrollback, as strips.

Rows that merely moved (scrolling) keep their strip: a strip is cached per
emulator line object and reused unless the emulator marked its row dirty.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from textual.strip import Strip

from hivetui.terminal.emulator import Line, TerminalScreen
from hivetui.terminal.palette import XTERM, Rgb
from hivetui.tui.widgets.terminal.render import LineRenderer


class ScreenView:
    def __init__(self, palette: Sequence[Rgb] = XTERM) -> None:
        self.renderer = LineRenderer(palette)
        self.strips: list[Strip] = []
        self.full = True
        #: Lines scrolled back into history; 0 is the live screen.
        self.offset = 0
        self.seen_scrolled = 0
        self._live_cache: dict[int, tuple[Line, Strip]] = {}
        self._cursor_row = -1

    def line(self, y: int, width: int) -> Strip:
        if 0 <= y < len(self.strips):
            return self.strips[y]
        return self.renderer.blank(width)

    def build(self, screen: TerminalScreen, base: Style, *, show_cursor: bool) -> list[int]:
        """Bring the strips up to date; returns the rows that changed."""
        if base != self.renderer.base:
            self.renderer.set_base(base)
            self.full = True
        if self.offset:
            return self._render_history(screen)
        return self._render_live(screen, show_cursor)

    def _render_live(self, screen: TerminalScreen, show_cursor: bool) -> list[int]:
        width, rows = screen.columns, screen.lines
        buffer = screen.buffer
        full = self.full or len(self.strips) != rows
        self.full = False
        cursor = screen.cursor
        cursor_row = min(cursor.y, rows - 1) if show_cursor else -1
        cursor_x = min(cursor.x, width - 1)
        dirty = screen.dirty
        old_cache = self._live_cache
        cache: dict[int, tuple[Line, Strip]] = {}
        old_strips = self.strips
        strips: list[Strip] = []
        changed: list[int] = []
        for y in range(rows):
            line = buffer[y]
            if y == cursor_row:
                strip = self.renderer.render(line, width, cursor_x)
            else:
                hit = None if full or y in dirty else old_cache.get(id(line))
                if hit is not None and hit[0] is line:
                    strip = hit[1]
                else:
                    strip = self.renderer.render(line, width)
                cache[id(line)] = (line, strip)
            strips.append(strip)
            if full or y >= len(old_strips) or old_strips[y] is not strip or y == cursor_row:
                changed.append(y)
        if self._cursor_row >= 0 and self._cursor_row not in changed and self._cursor_row < rows:
            changed.append(self._cursor_row)
        dirty.clear()
        self._cursor_row = cursor_row
        self._live_cache = cache
        self.strips = strips
        self.seen_scrolled = screen.scrolled_lines
        return sorted(changed)

    def _render_history(self, screen: TerminalScreen) -> list[int]:
        history = screen.scrollback
        scrolled = screen.scrolled_lines - self.seen_scrolled
        self.seen_scrolled = screen.scrolled_lines
        self.offset = min(len(history), self.offset + max(0, scrolled))
        if not self.full and not scrolled and not screen.dirty:
            return []
        self.full = False
        screen.dirty.clear()
        width, rows = screen.columns, screen.lines
        top = len(history) - self.offset
        strips = []
        for y in range(rows):
            index = top + y
            line = history[index] if index < len(history) else screen.buffer[index - len(history)]
            strips.append(self.renderer.render(line, width))
        self.strips = strips
        self._cursor_row = -1
        self._live_cache = {}
        return list(range(rows))
