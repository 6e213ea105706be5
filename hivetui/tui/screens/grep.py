"""`:grep TEXT`: every agent's transcript events that contain TEXT, newest first.

One line per hit (agent, turn, the event's compact line); Enter opens that agent's
transcript tab at that turn. The search runs in the core (``api.grep``), in a worker.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from hivetui.core.visible import visible_line
from hivetui.tui.commands import Navigate, OpenAgent
from hivetui.tui.context import HiveContext
from hivetui.tui.guard import attempt
from hivetui.tui.messages import HiveCommand
from hivetui.tui.screens.stylesheet import style_path

GREP_LIMIT = 500


class GrepScreen(Screen[None]):
    CSS_PATH = style_path("agent.tcss")
    COMPONENT_CLASSES = {"grep--agent", "grep--match"}
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, ctx: HiveContext, text: str) -> None:
        super().__init__(classes="hive-screen")
        self.ctx = ctx
        self.text = text
        self.hits: list[dict[str, object]] = []

    def compose(self) -> ComposeResult:
        yield Static(f"grep {visible_line(self.text)!r}: searching…", id="grep-title",
                     markup=False)
        yield OptionList(id="grep-hits")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.search()

    @work(group="grep", exclusive=True)
    async def search(self) -> None:
        hits = await attempt(self.app, self.ctx.api.grep(self.text, GREP_LIMIT))
        if hits is None:
            self.query_one("#grep-title", Static).update(
                f"grep {visible_line(self.text)!r}: the search failed")
            return
        self.hits = list(hits)
        agents = len({h["agent"] for h in self.hits})
        more = " (the newest shown)" if len(self.hits) >= GREP_LIMIT else ""
        self.query_one("#grep-title", Static).update(
            f"grep {visible_line(self.text)!r}: {len(self.hits)} hit(s) in {agents} "
            f"agent(s){more} · enter opens the turn")
        agent_style = self.get_component_rich_style("grep--agent", partial=True)
        match_style = self.get_component_rich_style("grep--match", partial=True)
        options = []
        for hit in self.hits:
            when = time.strftime("%H:%M:%S", time.localtime(float(str(hit["ts"]))))
            line = Text(f"{visible_line(str(hit['agent'])):<10} ", agent_style)
            line.append(f"turn {hit['turn']:<5} {when}  ")
            line.append(visible_line(str(hit["line"])))
            line.highlight_words([self.text], match_style, case_sensitive=False)
            options.append(Option(line))
        self.query_one(OptionList).set_options(options)

    @on(OptionList.OptionSelected, "#grep-hits")
    def _open(self, event: OptionList.OptionSelected) -> None:
        hit = self.hits[event.option_index]
        self.post_message(HiveCommand(OpenAgent(str(hit["agent"]), "transcript",
                                                int(str(hit["turn"])))))

    def action_back(self) -> None:
        self.post_message(HiveCommand(Navigate("agents")))
