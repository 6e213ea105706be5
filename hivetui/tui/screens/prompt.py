"""A modal that asks for one line of text (a model name, a spawn name, …)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from hivetui.tui.screens.stylesheet import style_path


class PromptScreen(ModalScreen[str | None]):
    """Dismisses with the text typed (stripped, non-empty) or ``None`` on escape."""

    CSS_PATH = style_path("modals.tcss")
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, *, value: str = "", placeholder: str = "") -> None:
        super().__init__(classes="hive-modal")
        self._title = title
        self._value = value
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self._title, id="title", markup=False)
            yield Input(value=self._value, placeholder=self._placeholder, id="answer",
                        select_on_focus=True)
            yield Static("enter: ok · escape: cancel", id="prompt", markup=False)
            yield Static("", id="error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()

    @on(Input.Submitted, "#answer")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            error = self.query_one("#error", Static)
            error.update("type a value, or escape to cancel")
            error.add_class("-shown")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
