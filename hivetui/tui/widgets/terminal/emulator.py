"""The VT emulator: pyte, subclassed for what it lacks.

pyte 0.8.2 has no alternate screen, no useful scrollback for a live terminal
(``HistoryScreen`` wraps every event and is several times slower), no secondary
DA, and parses every escape sequence one character at a time through a
generator. This module adds:

* alternate screen (private modes 1049, 1047, 47; 1048 saves the cursor), the
  main screen restored on leave;
* scrollback kept by ``index()`` (lines scrolled off the top of a full-height
  region), never filled by the alternate screen;
* mode flags the widget needs: mouse reporting (9/1000/1002/1003, 1006 SGR
  encoding), bracketed paste (2004), application cursor keys (1), focus
  events (1004);
* replies to primary/secondary DA and DSR (status, cursor, DECXCPR);
* SU/SD scrolling, SCOSC/SCORC, REP, ED 3 clearing only the scrollback;
* speed: ASCII text is drawn in runs with shared ``Char`` objects, SGR results
  are cached, and ``stream.TerminalStream`` dispatches simple CSI sequences whole.

It must not import textual or rich: it is used headless (tests, benchmarks).
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import pyte
from pyte import charsets
from pyte import modes as mo
from pyte.screens import Char, Margins, Savepoint, StaticDefaultDict

from hivetui.tui.widgets.terminal.stream import TerminalStream

log = logging.getLogger(__name__)

Line = StaticDefaultDict[int, Char]

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

PRIMARY_DA_REPLY = "\x1b[?62;22c"  # VT220 with ANSI colour
SECONDARY_DA_REPLY = "\x1b[>1;10;0c"  # VT220, firmware 10

_MAX_GLYPH_TABLES = 512
_MAX_SGR_CACHE = 4096


_new_tuple = tuple.__new__


class _Glyphs(dict[str, Char]):
    """Shared ``Char`` objects for one set of attributes: drawing a character is a lookup."""

    def __init__(self, attrs: Char) -> None:
        super().__init__()
        self.rest = tuple(attrs[1:])

    def __missing__(self, data: str) -> Char:
        char: Char = _new_tuple(Char, (data, *self.rest))
        self[data] = char
        return char


class TerminalScreen(pyte.Screen):
    """A pyte screen with alternate screen, scrollback, mode flags and replies."""

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
        self._glyphs: dict[Char, _Glyphs] = {}
        self._sgr_cache: dict[tuple[Char, tuple[int, ...], bool], Char] = {}
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
            elif mode == 3:
                continue  # DECCOLM: we never resize to 132 columns on a program's request
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
            elif mode == 3:
                continue
            else:
                rest.append(mode)
        if rest:
            super().reset_mode(*rest, **kwargs)

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
        super().reset()
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
        if dirty:
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

    # ----- drawing -------------------------------------------------------------

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
            or (self.g1_charset if self.charset else self.g0_charset) is not charsets.LAT1_MAP
        ):
            super().draw(data)
            return
        cursor = self.cursor
        columns = self.columns
        glyphs = self._glyphs.get(cursor.attrs)
        if glyphs is None:
            if len(self._glyphs) >= _MAX_GLYPH_TABLES:
                self._glyphs.clear()
            glyphs = self._glyphs[cursor.attrs] = _Glyphs(cursor.attrs)
        glyph = glyphs.__getitem__
        pos, end = 0, len(data)
        while pos < end:
            if cursor.x >= columns:
                self.dirty.add(cursor.y)
                cursor.x = 0
                self.linefeed()
            x = cursor.x
            take = min(columns - x, end - pos)
            cells = map(glyph, data[pos : pos + take])
            self.buffer[cursor.y].update(zip(range(x, x + take), cells, strict=False))
            cursor.x = x + take
            pos += take
        self.dirty.add(cursor.y)

    def repeat_last_character(self, count: int | None = None, *args: Any) -> None:
        """REP: draw the last drawn character ``count`` more times."""
        self.draw(self._last_char * min(count or 1, self.columns * self.lines))

    def select_graphic_rendition(self, *attrs: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            return
        key = (self.cursor.attrs, attrs, mo.DECSCNM in self.mode)
        cached = self._sgr_cache.get(key)
        if cached is None:
            super().select_graphic_rendition(*attrs)
            if len(self._sgr_cache) >= _MAX_SGR_CACHE:
                self._sgr_cache.clear()
            self._sgr_cache[key] = self.cursor.attrs
        else:
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
