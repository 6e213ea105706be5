"""The terminal widget: a program on a PTY, drawn through Textual's line API.

Output flows PTY -> ``OutputPump`` (bounded, time-sliced, backpressure) ->
``Emulator`` (pyte subclass) -> frames. A frame renders only the rows that
changed (the emulator's dirty rows, the cursor's rows; rows that merely moved
reuse their strip); ``FramePacer`` caps the rate (60 Hz, 10 Hz while flooding)
and paints promptly for the echo of input (frames hold until the output queued
before it is fed, see ``pacing``). Frames and feeding let the app's
other ready work go first, and pause briefly after a key meant for the app
(up to 100 ms): during a flood the terminal's screen is what lags, not the app.
A hidden terminal renders nothing and is fed at a bounded rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence

from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from hivetui.terminal.emulator import Emulator
from hivetui.terminal.keys import (
    MOUSE_MOTION,
    MOUSE_WHEEL_DOWN,
    MOUSE_WHEEL_UP,
    encode_key,
    encode_mouse,
    encode_paste,
)
from hivetui.terminal.pacing import FramePacer
from hivetui.terminal.palette import XTERM, Rgb
from hivetui.terminal.pty import (
    AppInput,
    ExitStatus,
    OutputPump,
    PtyProcess,
    Yielding,
)
from hivetui.tui.widgets.terminal.view import ScreenView

log = logging.getLogger(__name__)

RELEASE_KEY = "ctrl+right_square_bracket"
#: How long a frame lets the app's other ready work go first before it paints anyway.
FRAME_MAX_DEFER = 0.1
#: How long after a key for the app a frame waits: the app's screen update goes alone.
FRAME_SETTLE = 0.1
_PASS_THROUGH = frozenset({RELEASE_KEY, "shift+pageup", "shift+pagedown"})


class Terminal(Widget, can_focus=True):
    """Runs ``argv`` on its own PTY and shows it; keys, mouse and paste go to the program.

    ``palette``: the 16 ANSI colours as drawn (the ``[terminal] palette`` setting).
    """

    DEFAULT_CSS = """
    Terminal {
        width: 1fr;
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding(RELEASE_KEY, "release_focus", "Leave the terminal"),
        Binding("shift+pageup", "scroll_history(-1)", "Scroll back", show=False),
        Binding("shift+pagedown", "scroll_history(1)", "Scroll forward", show=False),
    ]

    class Exited(Message):
        """The program ended; its final screen stays, with the status line below it."""

        def __init__(self, terminal: Terminal, status: ExitStatus) -> None:
            super().__init__()
            self.terminal = terminal
            self.status = status

        @property
        def returncode(self) -> int:
            return self.status.returncode

        @property
        def control(self) -> Terminal:
            return self.terminal

    class FocusReleased(Message):
        """The operator pressed the release key: focus back to the TUI; the shell keeps running."""

        def __init__(self, terminal: Terminal) -> None:
            super().__init__()
            self.terminal = terminal

        @property
        def control(self) -> Terminal:
            return self.terminal

    class TitleChanged(Message):
        """The program set its window title (OSC 0/2)."""

        def __init__(self, terminal: Terminal, title: str) -> None:
            super().__init__()
            self.terminal = terminal
            self.title = title

        @property
        def control(self) -> Terminal:
            return self.terminal

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        scrollback: int = 5000,
        palette: Sequence[Rgb] = XTERM,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.argv = list(argv)
        self.env = None if env is None else dict(env)
        self.cwd = cwd
        self.emulator = Emulator(80, 24, scrollback=scrollback, reply=self._reply)
        self.process: PtyProcess | None = None
        self.pump: OutputPump | None = None
        self.exit_status: ExitStatus | None = None
        self.frames = 0
        self._view = ScreenView(palette)
        self._shown = False
        self._frame_handle: asyncio.Handle | None = None
        self._pacer = FramePacer()
        self._yielding = Yielding(time.perf_counter, FRAME_MAX_DEFER, FRAME_SETTLE)
        self._title = ""
        self._eof = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    # ----- lifecycle -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.exit_status is None

    def start(self) -> None:
        """Spawn the program (done on the first resize; call it to start while hidden)."""
        if self.process is not None:
            return
        columns, rows = self._content_size()
        self.emulator.resize(columns, rows)
        self.process = PtyProcess.spawn(
            self.argv, env=self.env, cwd=self.cwd, rows=rows, columns=columns
        )
        self.pump = OutputPump(self.process.fd, self._on_output, self._eof.set)
        self.pump.set_throttled(not self._shown)
        self.pump.start()
        self._watcher = asyncio.create_task(self._watch_exit(), name=f"terminal-{self.process.pid}")

    def _content_size(self) -> tuple[int, int]:
        size = self.size
        if size.width > 0 and size.height > 0:
            return size.width, size.height
        return self.emulator.screen.columns, self.emulator.screen.lines

    async def _watch_exit(self) -> None:
        process = self.process
        assert process is not None
        while (status := process.poll()) is None:
            if self._eof.is_set():
                await asyncio.sleep(0.01)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._eof.wait(), timeout=1.0)
        with contextlib.suppress(TimeoutError):  # let the last output through
            await asyncio.wait_for(self._eof.wait(), timeout=0.5)
        self._finish(status)

    def _finish(self, status: ExitStatus) -> None:
        if self.pump is not None:
            self.pump.stop()
        if self.process is not None:
            self.process.close_fd()
        self.exit_status = status
        self.emulator.feed(f"\x1b[0m\r\n{status.describe()}\r\n".encode())
        self._request_frame()
        log.debug("terminal: %s ended: %s", self.argv, status)
        self.post_message(self.Exited(self, status))

    async def on_unmount(self) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the program (SIGHUP, then SIGKILL) and reap it. Safe to call twice."""
        if self._frame_handle is not None:
            self._frame_handle.cancel()
            self._frame_handle = None
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self.pump is not None:
            self.pump.stop()
        if self.process is not None and self.exit_status is None:
            self.exit_status = await self.process.aclose()
        elif self.process is not None:
            self.process.close_fd()

    # ----- output ----------------------------------------------------------------

    def _reply(self, data: str) -> None:
        if self.process is not None:
            self.process.write(data.encode())

    def write(self, data: bytes) -> None:
        """Send bytes to the program (as if typed); the view returns to the live screen."""
        if self.process is None or self.exit_status is not None:
            return
        if self._view.offset:
            self._view.offset = 0
            self._redraw()
        if self.pump is not None:
            backlog = self.pump.pending + self.process.queued_output()
            now = time.perf_counter()
            if self._pacer.input_sent(data, fed=self.pump.bytes_fed, backlog=backlog, now=now):
                self._frame_soon()
        self.process.write(data)

    def _frame_soon(self) -> None:
        """The pacer moved the next frame earlier: reschedule a pending one."""
        if self._frame_handle is not None:
            self._frame_handle.cancel()
            self._frame_handle = None
        self._request_frame()

    def _on_output(self, data: bytes) -> None:
        self.emulator.feed(data)
        if self.pump is not None and self._pacer.output_fed(
            data, fed=self.pump.bytes_fed, now=time.perf_counter()
        ):
            self._frame_soon()
        title = self.emulator.screen.title
        if title != self._title:
            self._title = title
            self.post_message(self.TitleChanged(self, title))
        self._request_frame()

    # ----- frames ----------------------------------------------------------------

    def _request_frame(self) -> None:
        if self._frame_handle is not None or not self._shown or not self.is_mounted:
            return
        loop = asyncio.get_running_loop()
        delay = self._pacer.delay(time.perf_counter())
        self._frame_handle = loop.call_later(delay, self._frame)

    def _frame(self) -> None:
        self._frame_handle = None
        if not self._shown:
            return
        loop = asyncio.get_running_loop()
        hold = self._pacer.holding(time.perf_counter())
        wait = hold or self._yielding.delay(loop)
        if wait is not None:  # an awaited echo, the app's own work first: the terminal lags
            self._frame_handle = loop.call_later(wait, self._frame)
            return
        started = time.perf_counter()
        screen = self.emulator.screen
        show_cursor = self.has_focus and not screen.cursor.hidden and self.exit_status is None
        changed = self._view.build(screen, self.rich_style, show_cursor=show_cursor)
        if changed:
            self.frames += 1
            for start, count in _ranges(changed):
                self.refresh(Region(0, start, self.size.width, count))
        pump = self.pump
        busy = pump is not None and (pump.pending > 0 or not pump.reading)
        self._pacer.frame_done(started, time.perf_counter() - started, busy=busy)

    def render_line(self, y: int) -> Strip:
        return self._view.line(y, self.size.width)

    def _redraw(self) -> None:
        self._view.full = True
        self._request_frame()

    # ----- events ----------------------------------------------------------------

    def set_visible(self, visible: bool) -> None:
        """Shown: frames and a full-rate reader; hidden (e.g. its screen left): a bounded
        feed and no frames, caught up with one full frame when shown again."""
        if visible == self._shown:
            return
        self._shown = visible
        if self.pump is not None:
            self.pump.set_throttled(not visible)
        if visible:
            self._redraw()

    def on_show(self) -> None:
        self.set_visible(True)

    def on_hide(self) -> None:
        self.set_visible(False)

    def on_resize(self, event: events.Resize) -> None:
        self.set_visible(True)
        columns, rows = self.size.width, self.size.height
        if columns <= 0 or rows <= 0:
            return
        if self.process is None:
            self.start()
        else:
            self.emulator.resize(columns, rows)
            if self.exit_status is None:
                self.process.set_size(rows, columns)
        self._redraw()

    def on_focus(self) -> None:
        if self.emulator.screen.focus_events:
            self.write(b"\x1b[I")
        self._redraw()

    def on_blur(self) -> None:
        if self.emulator.screen.focus_events:
            self.write(b"\x1b[O")
        self._redraw()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._view.full = True

    async def on_key(self, event: events.Key) -> None:
        if event.key in _PASS_THROUGH or not self.running:
            return  # the bindings (or the app) handle it
        data = encode_key(
            event.key, event.character, app_cursor=self.emulator.screen.app_cursor_keys
        )
        if data:
            event.stop()
            event.prevent_default()
            self.write(data)

    def on_paste(self, event: events.Paste) -> None:
        if not self.running:
            return
        event.stop()
        self.write(encode_paste(event.text, bracketed=self.emulator.screen.bracketed_paste))

    def _mouse(self, event: events.MouseEvent, button: int, *, release: bool = False) -> bool:
        screen = self.emulator.screen
        if not self.running or not screen.mouse_tracking:
            return False
        offset = event.get_content_offset(self)
        if offset is None:
            return True
        report = encode_mouse(
            button,
            offset.x,
            offset.y,
            release=release,
            sgr=screen.mouse_sgr,
            shift=event.shift,
            meta=event.meta,
            ctrl=event.ctrl,
        )
        self.write(report)
        event.stop()
        return True

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._mouse(event, max(0, event.button - 1))

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self.emulator.screen.mouse_tracking != 9:  # X10 reports presses only
            self._mouse(event, max(0, event.button - 1), release=True)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        tracking = self.emulator.screen.mouse_tracking
        if tracking == 1003 or (tracking == 1002 and event.button):
            button = max(0, event.button - 1) if event.button else 3
            self._mouse(event, button | MOUSE_MOTION)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if not self._mouse(event, MOUSE_WHEEL_UP):
            event.stop()
            self.scroll_history(-3)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if not self._mouse(event, MOUSE_WHEEL_DOWN):
            event.stop()
            self.scroll_history(3)

    # ----- actions ---------------------------------------------------------------

    def action_release_focus(self) -> None:
        self.post_message(self.FocusReleased(self))

    def action_scroll_history(self, pages: int) -> None:
        self.scroll_history(pages * max(1, self.emulator.screen.lines - 1))

    def scroll_history(self, lines: int) -> None:
        """Negative: back into the scrollback; positive: towards the live screen."""
        screen = self.emulator.screen
        if screen.in_alt_screen:
            return
        offset = max(0, min(len(screen.scrollback), self._view.offset - lines))
        if offset != self._view.offset:
            self._view.offset = offset
            self._view.seen_scrolled = screen.scrolled_lines
            self._redraw()

    @property
    def history_offset(self) -> int:
        return self._view.offset

    def screen_text(self) -> str:
        """What the emulator holds now, trailing spaces stripped (tests, debugging)."""
        return self.emulator.text()


def note_app_key(focused: Widget | None, key: str) -> None:
    """The app calls this for every key: one not meant for a terminal's program (the
    terminal's own keys included) makes terminals pause their output and frames briefly
    (see ``Yielding``)."""
    if not isinstance(focused, Terminal) or key in _PASS_THROUGH:
        AppInput.note(time.perf_counter())


def _ranges(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted rows to (start, count) runs."""
    runs: list[tuple[int, int]] = []
    for y in rows:
        if runs and runs[-1][0] + runs[-1][1] == y:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((y, 1))
    return runs


TerminalExited = Terminal.Exited
TerminalFocusReleased = Terminal.FocusReleased
