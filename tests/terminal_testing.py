"""Helpers to run any argv in the terminal widget under ``App.run_test`` and read the screen.

Used by the widget's tests and the benchmark; the container backend's tests can
pass a backend's ``shell_argv(name)`` to ``TerminalTestApp`` the same way.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence

from rich.style import Style
from textual.app import App, ComposeResult

from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.widgets.terminal.widget import Terminal


class TerminalTestApp(App[None]):
    """An app that mounts only a ``Terminal`` running ``argv``, and records its messages."""

    CSS_PATH = style_path("terminal.tcss")

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        terminal_class: type[Terminal] = Terminal,
    ) -> None:
        super().__init__()
        self._argv = list(argv)
        self._env = env
        self._cwd = cwd
        self._terminal_class = terminal_class
        self.exited: list[Terminal.Exited] = []
        self.released: list[Terminal.FocusReleased] = []
        self.titles: list[str] = []

    def compose(self) -> ComposeResult:
        yield self._terminal_class(self._argv, env=self._env, cwd=self._cwd, id="terminal")

    def on_mount(self) -> None:
        self.terminal.focus()

    @property
    def terminal(self) -> Terminal:
        return self.query_one("#terminal", Terminal)

    def on_terminal_exited(self, message: Terminal.Exited) -> None:
        self.exited.append(message)

    def on_terminal_focus_released(self, message: Terminal.FocusReleased) -> None:
        self.released.append(message)

    def on_terminal_title_changed(self, message: Terminal.TitleChanged) -> None:
        self.titles.append(message.title)


def plain_env(**extra: str) -> dict[str, str]:
    """A small predictable environment for programs under test (plain prompt, no user rc)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "PS1": "$ ",
    }
    env.update(extra)
    return env


async def wait_until(
    predicate: Callable[[], bool],
    timeout: float = 10.0,
    what: str | Callable[[], str] = "condition",
) -> None:
    """Poll ``predicate`` on the loop until true; ``AssertionError`` naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {described}")
        await asyncio.sleep(0.02)


def rendered_text(terminal: Terminal) -> str:
    """What the widget currently hands Textual (its strips), trailing spaces stripped."""
    height = terminal.size.height
    return "\n".join(terminal.render_line(y).text.rstrip() for y in range(height))


async def wait_for_text(terminal: Terminal, text: str, timeout: float = 10.0) -> None:
    """Wait until ``text`` is on the rendered screen (not merely in the emulator)."""
    await wait_until(
        lambda: text in rendered_text(terminal),
        timeout,
        lambda: f"{text!r} on the rendered terminal; it shows:\n{rendered_text(terminal)}",
    )


def cell_style(terminal: Terminal, x: int, y: int) -> Style:
    """The Rich style Textual receives for cell (x, y) of the widget."""
    position = 0
    for segment in terminal.render_line(y):
        width = segment.cell_length
        if position <= x < position + width:
            return segment.style or Style()
        position += width
    raise AssertionError(f"cell ({x}, {y}) is outside the rendered line")


def find_text(terminal: Terminal, text: str) -> tuple[int, int]:
    """(x, y) of the first rendered occurrence of ``text``."""
    for y in range(terminal.size.height):
        x = terminal.render_line(y).text.find(text)
        if x >= 0:
            return x, y
    raise AssertionError(f"{text!r} is not on the rendered terminal:\n{rendered_text(terminal)}")
