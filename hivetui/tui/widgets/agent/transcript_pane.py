"""The transcript tab: one turn at a time, the current one followed live.

``[`` and ``]`` go to the previous and next kept turn; ``f`` follows the live turn again.
Each event is one compact line (``Bash: git status``, ``Edit prompt.md +3 −1``, a result's
first line); Enter expands the highlighted one to everything it holds, Enter again folds it.
``/`` searches the turn shown (``n``/``N`` jump between matches). The header names the turn,
its outcome, cost and tokens.

Batches from ``api.follow_transcript`` are written at most ten times a second. Every text
from the agent goes through ``core.visible`` before it is drawn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList
from textual.worker import Worker

from hivetui.core.api import HiveAPI
from hivetui.core.errors import HiveError
from hivetui.core.transcript_format import cost_line, expanded, searchable, summary
from hivetui.core.visible import visible, visible_line
from hivetui.tui.guard import attempt, show_error

log = logging.getLogger(__name__)

FLUSH_S = 0.1
_GLYPHS = {"prompt": "▶ ", "text": "  ", "tool_call": "⚙ ", "tool_result": "  ",
           "error": "✗ ", "compact": "⇲ ", "dropped": "… ", "end": "■ "}
_STYLE = {"prompt": "transcript--prompt", "tool_call": "transcript--tool",
          "tool_result": "transcript--muted", "error": "transcript--error",
          "compact": "transcript--muted", "dropped": "transcript--dropped",
          "end": "transcript--muted"}


class TranscriptPane(Vertical, can_focus=False):
    COMPONENT_CLASSES = {"transcript--prompt", "transcript--tool", "transcript--muted",
                         "transcript--error", "transcript--dropped", "transcript--match"}

    BINDINGS = [
        Binding("left_square_bracket", "turn(-1)", "Previous turn"),
        Binding("right_square_bracket", "turn(1)", "Next turn"),
        Binding("f", "follow", "Follow"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("escape", "close_input", "Close", show=False),
    ]

    def __init__(self, api: HiveAPI, agent: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.api = api
        self.agent = agent
        self.turns: list[int] = []
        self.shown_turn: int | None = None
        self.live_turn: int | None = None
        self.header: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.expanded: set[int] = set()
        self.following = False
        self.search_text = ""
        self.matches: list[int] = []
        self.match_index = -1
        self.loaded = False
        self._incoming: list[dict[str, Any]] = []
        self._flush_timer: Timer | None = None
        self._follower: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Label("", id="transcript-status", markup=False)
        yield OptionList(id="transcript-view")
        yield Input(id="transcript-input", placeholder="search this turn (enter; n/N)")

    @property
    def view(self) -> OptionList:
        return self.query_one("#transcript-view", OptionList)

    # --- following the live turn -------------------------------------------------------
    def start(self) -> None:
        """Follow from the newest turn (the first time the tab is shown)."""
        if not self.loaded:
            self.loaded = True
            self.set_follow(True)

    def set_follow(self, on: bool) -> None:
        if on == self.following:
            return
        self.following = on
        if on:
            self._follower = self.run_worker(self._follow(), group="follow",
                                             exclusive=True, exit_on_error=False)
        elif self._follower is not None:
            self._follower.cancel()
            self._follower = None
        self._status()

    async def _follow(self) -> None:
        try:
            async for batch in self.api.follow_transcript(self.agent):
                self._incoming.append(batch)
                if self._flush_timer is None:
                    self._flush_timer = self.set_timer(FLUSH_S, self._flush)
        except asyncio.CancelledError:
            raise
        except HiveError as exc:
            show_error(self.app, exc)
        except Exception as exc:  # shown as a toast; following stops
            log.exception("following %s's transcript failed", self.agent)
            show_error(self.app, exc)
        self.following = False
        self._status()

    def _flush(self) -> None:
        self._flush_timer = None
        batches, self._incoming = self._incoming, []
        for batch in batches:
            if batch.get("snapshot"):
                self.turns = list(batch.get("turns") or [])
                self.live_turn = batch["turn"] or None
                self._show(batch.get("header"), batch["events"])
                continue
            turn = int(batch["turn"])
            if self.live_turn is None or turn > self.live_turn:
                self.live_turn = turn
                if turn not in self.turns:
                    self.turns.append(turn)
                if self.following:
                    self._show({"turn": turn, "outcome": ""}, [])
            if turn == self.shown_turn:
                self._append(batch["events"])
        self._status()

    # --- one turn ----------------------------------------------------------------------
    def _show(self, header: dict[str, Any] | None, events: list[dict[str, Any]]) -> None:
        self.header = header
        self.shown_turn = header["turn"] if header else None
        self.events = []
        self.expanded.clear()
        self.matches, self.match_index = [], -1
        self.view.clear_options()
        self._append(events)

    def _append(self, events: list[dict[str, Any]]) -> None:
        start = len(self.events)
        view = self.view
        # the newest line stays in view while following, unless the operator moved off it
        tail = view.highlighted is None or view.highlighted >= view.option_count - 1
        self.events.extend(events)
        needle = self.search_text.lower()
        for index, event in enumerate(events, start):
            if event.get("kind") == "end" and self.header is not None:
                self.header = {**self.header, **{k: v for k, v in event.items()
                                                 if k not in ("kind", "ts", "seq")}}
            if needle and needle in searchable(event).lower():
                self.matches.append(index)
        view.add_options([self._line(e, False) for e in events])
        if self.following and tail and view.option_count:
            view.highlighted = view.option_count - 1

    def _line(self, event: dict[str, Any], open_: bool) -> Text:
        kind = str(event.get("kind", ""))
        style = self.get_component_rich_style(_STYLE[kind], partial=True) if kind in _STYLE \
            else None
        text = Text(_GLYPHS.get(kind, "  ") + visible_line(summary(event)), style or "")
        if open_:
            body = visible(expanded(event))
            text.append("\n" + "\n".join("    " + line for line in body.splitlines()))
        if self.search_text:
            text.highlight_words([self.search_text],
                                 self.get_component_rich_style("transcript--match",
                                                               partial=True),
                                 case_sensitive=False)
        return text

    async def load_turn(self, turn: int | None) -> None:
        """Show ``turn`` (the newest when None) as the store has it."""
        data = await attempt(self.app, self.api.transcript(self.agent, turn))
        if data is None:
            return
        self.loaded = True
        self.turns = list(data.get("turns") or [])
        self._show(data.get("turn"), list(data.get("events") or []))
        self._status()

    def _status(self) -> None:
        if self.shown_turn is None:
            parts = ["no turn yet"]
        else:
            header = self.header or {}
            where = (f" ({self.turns.index(self.shown_turn) + 1}/{len(self.turns)})"
                     if self.shown_turn in self.turns else "")
            outcome = header.get("outcome") or "running"
            parts = [f"turn {self.shown_turn}{where}", visible_line(str(outcome))]
            if header.get("outcome"):
                parts.append(cost_line(header))
        parts.append(f"follow {'on' if self.following else 'off'} (f)")
        parts.append("[ ] turns · enter expands")
        if self.search_text:
            at = f"{self.match_index + 1}/" if self.match_index >= 0 else ""
            parts.append(f"search {visible_line(self.search_text)!r}: {at}{len(self.matches)}")
        self.query_one("#transcript-status", Label).update(" · ".join(parts))

    # --- actions -----------------------------------------------------------------------
    def action_turn(self, step: int) -> None:
        if not self.turns:
            return
        at = self.turns.index(self.shown_turn) if self.shown_turn in self.turns \
            else len(self.turns) - 1
        target = self.turns[max(0, min(len(self.turns) - 1, at + step))]
        if target == self.shown_turn:
            return
        self.set_follow(False)
        self.run_worker(self.load_turn(target), group="transcript-load", exclusive=True)

    def action_follow(self) -> None:
        if self.following:
            self.set_follow(False)
        else:
            self.set_follow(True)  # the snapshot brings the newest turn back

    @on(OptionList.OptionSelected, "#transcript-view")
    def _toggle(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = event.option_index
        if index in self.expanded:
            self.expanded.discard(index)
        else:
            self.expanded.add(index)
        self.view.replace_option_prompt_at_index(
            index, self._line(self.events[index], index in self.expanded))

    def action_search(self) -> None:
        box = self.query_one("#transcript-input", Input)
        box.value = self.search_text
        box.add_class("-shown")
        box.focus()

    def set_search(self, text: str) -> None:
        self.search_text = text.strip()
        if self.search_text:
            self.set_follow(False)  # the view stays where the matches are
        header, events = self.header, self.events
        self._show(header, events)
        self.jump(1)

    def jump(self, step: int) -> None:
        if self.matches:
            self.set_follow(False)
            self.match_index = (self.match_index + step) % len(self.matches)
            self.view.highlighted = self.matches[self.match_index]
        self._status()

    def action_next_match(self) -> None:
        self.jump(1)

    def action_previous_match(self) -> None:
        self.jump(-1)

    @on(Input.Submitted, "#transcript-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_search(event.value)
        event.input.remove_class("-shown")
        self.view.focus()

    def action_close_input(self) -> None:
        box = self.query_one("#transcript-input", Input)
        if not box.has_class("-shown"):
            raise SkipAction()  # escape then goes back, as everywhere else
        box.remove_class("-shown")
        self.view.focus()
