"""A modal that asks why a request is denied; the manager receives the reason.

Dismisses with the reason (stripped, never empty) or ``None`` when cancelled. An empty
reason is refused in place with a message saying why.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from hivetui.tui.screens.stylesheet import style_path

EMPTY_REASON = "A reason is required: the manager receives it with the denial."
MAX_REASON = 2000


class DenyReasonScreen(ModalScreen[str | None]):
    """Deny a request: the operator types the reason."""

    CSS_PATH = style_path("modals.tcss")

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "deny", "Deny"),
    ]

    def __init__(self, what: str) -> None:
        super().__init__(classes="hive-modal")
        self._what = what

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Deny {self._what}", id="title", markup=False)
            yield Static("Why? The manager receives this reason.", id="message")
            yield Input(placeholder="reason", id="reason", max_length=MAX_REASON)
            yield Static("", id="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Deny", variant="error", id="deny", action="screen.deny")
                yield Button("Cancel", id="cancel", action="screen.cancel")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    def _reason_submitted(self) -> None:
        self.action_deny()

    @on(Input.Changed, "#reason")
    def _reason_changed(self) -> None:
        self.query_one("#error", Static).remove_class("-shown")

    def action_deny(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            error = self.query_one("#error", Static)
            error.update(EMPTY_REASON)
            error.add_class("-shown")
            self.query_one("#reason", Input).focus()
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
