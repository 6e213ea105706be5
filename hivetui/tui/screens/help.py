"""`?`: every key of every hive screen and widget, and every `:` command.

Generated from the classes' ``BINDINGS`` and :data:`hivetui.tui.commands.COMMANDS`, so
it cannot fall behind the code.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hivetui.tui.commands import COMMANDS, SLASH_COMMANDS
from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.widgets.chrome.footer import HiveFooter

Section = tuple[str, Sequence[BindingType]]


def _key(binding: Binding) -> str:
    return ", ".join(
        {"question_mark": "?", "colon": ":", "slash": "/", "escape": "esc",
         "enter": "enter"}.get(k, k) for k in binding.key.split(","))


class HelpScreen(ModalScreen[None]):
    CSS_PATH = style_path("app.tcss")
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, sections: Sequence[Section]) -> None:
        super().__init__(id="help-screen")
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static("hivetui — keys and commands", id="help-title")
            for title, bindings in self.sections:
                yield Static(self._table(title, bindings), classes="help-section")
            yield Static(self._commands(), classes="help-section")
        yield HiveFooter()

    @staticmethod
    def rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
        out = []
        for item in bindings:
            binding = item if isinstance(item, Binding) else Binding(*item)
            out.append((_key(binding), binding.description or binding.action))
        return out

    def _table(self, title: str, bindings: Sequence[BindingType]) -> Table:
        table = Table(title=Text(title, style="bold"), title_justify="left", show_header=False,
                      box=None, padding=(0, 2), expand=False)
        table.add_column(no_wrap=True, style="bold")
        table.add_column()
        for key, description in self.rows(bindings):
            table.add_row(key, description)
        return table

    def _commands(self) -> Table:
        table = Table(title=Text("commands (type : first)", style="bold"), title_justify="left",
                      show_header=False, box=None, padding=(0, 2))
        table.add_column(no_wrap=True, style="bold")
        table.add_column()
        for spec in COMMANDS.values():
            table.add_row(spec.usage, spec.help)
        for spec in SLASH_COMMANDS.values():
            table.add_row(spec.usage, f"{spec.help} (in the messages compose box)")
        return table

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
