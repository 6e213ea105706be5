"""The logs tab: the tail, follow on/off, search (`/`, `n`, `N`) and filter (`F`).

Lines from ``api.follow_logs`` are batched and written at most ten times a second.
Search highlights every match and jumps between them; filter keeps only matching lines.
"""

from __future__ import annotations

import logging
from collections import deque

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Input, Label, RichLog
from textual.worker import Worker

from hivetui.core.api import HiveAPI
from hivetui.core.visible import visible_line
from hivetui.core.words import counted
from hivetui.tui.guard import attempt
from hivetui.tui.workers import ReportsWorkerErrors

log = logging.getLogger(__name__)

MAX_LINES = 5000


class LogPane(ReportsWorkerErrors, Vertical, can_focus=False):
    COMPONENT_CLASSES = {"logs--match"}
    DEFAULT_CSS = """
    LogPane > .logs--match {
        background: $warning;
        color: $background;
    }
    """

    BINDINGS = [
        Binding("f", "toggle_follow", "Follow"),
        Binding("slash", "search", "Search"),
        Binding("F", "filter", "Filter"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("escape", "close_input", "Close", show=False),
    ]

    def __init__(self, api: HiveAPI, agent: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.api = api
        self.agent = agent
        self.lines: deque[str] = deque(maxlen=MAX_LINES)
        self.following = False
        self.search_text = ""
        self.filter_text = ""
        self.matches: list[int] = []
        self.match_index = -1
        self._shown: list[str] = []
        self._incoming: list[str] = []
        self._flush_timer: Timer | None = None
        self._follower: Worker[None] | None = None
        self._input_mode = "search"

    def compose(self) -> ComposeResult:
        yield Label("", id="log-status", markup=False)
        yield RichLog(id="log-view", wrap=False, markup=False, highlight=False,
                      max_lines=MAX_LINES, auto_scroll=True)
        yield Input(id="log-input", placeholder="search")

    @property
    def view(self) -> RichLog:
        return self.query_one("#log-view", RichLog)

    async def load(self, follow: bool = True) -> None:
        tail = await attempt(self.app, self.api.logs(self.agent, 500))
        self.lines.clear()
        self.lines.extend(visible_line(line) for line in tail or [])  # shown, never run
        self._redraw()
        if follow:
            self.set_follow(True)

    # --- follow -------------------------------------------------------------------
    def set_follow(self, on: bool) -> None:
        if on == self.following:
            return
        self.following = on
        self.view.auto_scroll = on
        if on:
            self._follower = self.run_worker(self._follow(), group="follow", exclusive=True,
                                             exit_on_error=False)
            self.view.scroll_end(animate=False)
        elif self._follower is not None:
            self._follower.cancel()
            self._follower = None
        self._status()

    async def _follow(self) -> None:
        """Lines as they come; a failure stops following (the app shows why:
        :mod:`hivetui.tui.workers`)."""
        try:
            async for line in self.api.follow_logs(self.agent):
                self._incoming.append(line)
                if self._flush_timer is None:
                    self._flush_timer = self.set_timer(0.1, self._flush)
        except Exception:
            self._followed()
            raise
        self._followed()

    def _followed(self) -> None:
        self.following = False
        self._status()

    def _flush(self) -> None:
        self._flush_timer = None
        batch = [visible_line(line) for line in self._incoming]  # shown, never run
        self._incoming = []
        self.lines.extend(batch)
        view = self.view
        for line in batch:
            if self._passes(line):
                self._shown.append(line)
                if self.search_text and self.search_text.lower() in line.lower():
                    self.matches.append(len(self._shown) - 1)
                view.write(self._render_line(line))
        self._status()

    # --- search and filter ------------------------------------------------------------
    def _passes(self, line: str) -> bool:
        return not self.filter_text or self.filter_text.lower() in line.lower()

    def _render_line(self, line: str) -> Text:
        text = Text(line)
        if self.search_text:
            text.highlight_words([self.search_text],
                                 self.get_component_rich_style("logs--match", partial=True),
                                 case_sensitive=False)
        return text

    def _redraw(self) -> None:
        view = self.view
        view.clear()
        self._shown = [line for line in self.lines if self._passes(line)]
        needle = self.search_text.lower()
        self.matches = ([i for i, line in enumerate(self._shown) if needle in line.lower()]
                        if needle else [])
        self.match_index = -1
        for line in self._shown:
            view.write(self._render_line(line))
        self._status()

    def set_search(self, text: str) -> None:
        self.search_text = text.strip()
        if self.search_text:
            self.set_follow(False)  # the view stays where the matches are
        self._redraw()
        if self.matches:
            self.jump(1)

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._redraw()

    def jump(self, step: int) -> None:
        if not self.matches:
            self._status()
            return
        self.set_follow(False)
        self.match_index = (self.match_index + step) % len(self.matches)
        line = self.matches[self.match_index]
        # after the refresh: lines just written are not laid out yet
        self.call_after_refresh(self.view.scroll_to, y=max(0, line - 2), animate=False)
        self._status()

    def _status(self) -> None:
        parts = [f"follow {'on' if self.following else 'off'} (f)",
                 counted(len(self._shown), "line")]
        if self.search_text:
            where = f"{self.match_index + 1}/" if self.match_index >= 0 else ""
            parts.append(f"search {self.search_text!r}: {where}"
                         f"{counted(len(self.matches), 'match', 'matches')}")
        if self.filter_text:
            parts.append(f"filter {self.filter_text!r}")
        self.query_one("#log-status", Label).update(" · ".join(parts))

    # --- actions ----------------------------------------------------------------------
    def action_toggle_follow(self) -> None:
        if self.following:
            self.set_follow(False)
        else:
            self.run_worker(self.load(follow=True), group="reload", exclusive=True,
                            exit_on_error=False)

    def _open_input(self, mode: str) -> None:
        self._input_mode = mode
        box = self.query_one("#log-input", Input)
        box.placeholder = "search (enter: find, n/N: next/previous)" if mode == "search" \
            else "filter: show only lines containing…"
        box.value = self.search_text if mode == "search" else self.filter_text
        box.add_class("-shown")
        box.focus()

    def action_search(self) -> None:
        self._open_input("search")

    def action_filter(self) -> None:
        self._open_input("filter")

    def action_next_match(self) -> None:
        self.jump(1)

    def action_previous_match(self) -> None:
        self.jump(-1)

    @on(Input.Submitted, "#log-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._input_mode == "search":
            self.set_search(event.value)
        else:
            self.set_filter(event.value)
        event.input.remove_class("-shown")
        self.view.focus()

    def action_close_input(self) -> None:
        box = self.query_one("#log-input", Input)
        if not box.has_class("-shown"):
            raise SkipAction()  # escape then goes back, as everywhere else
        box.remove_class("-shown")
        self.view.focus()
