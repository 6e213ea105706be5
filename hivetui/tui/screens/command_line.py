"""The `:` command line, k9s style: one line at the bottom, suggestions, errors in place.

Dismisses with the parsed :class:`~hivetui.tui.commands.Command`, or ``None`` (escape).
A line that does not parse stays, with a one-line error above it.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label

from hivetui.tui.commands import Command, CommandError, parse_command, suggestions
from hivetui.tui.screens.stylesheet import style_path


class CommandLineScreen(ModalScreen[Command | None]):
    CSS_PATH = style_path("app.tcss")
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, agent_names: list[str]) -> None:
        super().__init__(id="command-line-screen")
        self._names = agent_names

    def compose(self) -> ComposeResult:
        with Vertical(id="command-line"):
            yield Label("", id="command-error", markup=False)
            yield Input(value=":", id="command-input",
                        suggester=SuggestFromList(suggestions(self._names),
                                                  case_sensitive=False),
                        placeholder=":agents  :approvals  :model NAME MODEL  :help")

    def on_mount(self) -> None:
        box = self.query_one("#command-input", Input)
        box.focus()
        box.cursor_position = len(box.value)

    @on(Input.Submitted, "#command-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            command = parse_command(event.value)
        except CommandError as exc:
            error = self.query_one("#command-error", Label)
            error.update(exc.message)
            error.add_class("-shown")
            return
        self.dismiss(command)

    @on(Input.Changed, "#command-input")
    def _changed(self) -> None:
        self.query_one("#command-error", Label).remove_class("-shown")

    def action_cancel(self) -> None:
        self.dismiss(None)
