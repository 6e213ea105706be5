"""A modal that asks the operator to confirm a destructive action.

``ConfirmScreen`` dismisses with ``None`` when cancelled, otherwise with the text the
operator typed (``""`` when no typing was asked). With ``typed="alice"`` the operator
must type ``alice`` exactly before the action goes ahead (purge asks for the agent's
name; the typed text is what the caller passes on as the API's ``confirm``). Without
``typed``, only ctrl+s or a click confirms: the confirm button takes no focus, so keys
typed by an operator who believes a shell still has the keyboard (letters, Tab, Enter)
can only cancel::

    self.app.push_screen(ConfirmScreen("Destroy alice?", "The container goes away.",
                                       confirm_label="Destroy"), on_result)
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from hivetui.tui.screens.stylesheet import style_path


class ConfirmScreen(ModalScreen[str | None]):
    """Confirm or cancel; optionally the operator must type a given text first."""

    CSS_PATH = style_path("modals.tcss")

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "confirm", "Confirm", show=True),
    ]

    def __init__(self, title: str, message: str, *, confirm_label: str = "Confirm",
                 typed: str | None = None) -> None:
        super().__init__(classes="hive-modal")
        self._title = title
        self._message = message
        self._confirm_label = confirm_label
        self._typed = typed

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self._title, id="title", markup=False)
            yield Static(self._message, id="message", markup=False)
            if self._typed is None:
                yield Static(f"ctrl+s: {self._confirm_label} · enter or escape: Cancel",
                             id="keys", markup=False)
            else:
                yield Label(f"Type {self._typed} to confirm:", id="prompt", markup=False)
                yield Input(placeholder=self._typed, id="typed")
            yield Static("", id="error", markup=False)
            with Horizontal(id="buttons"):
                confirm = Button(self._confirm_label, variant="error", id="confirm",
                                 action="screen.confirm")
                confirm.can_focus = self._typed is not None
                yield confirm
                yield Button("Cancel", id="cancel", action="screen.cancel")

    def on_mount(self) -> None:
        if self._typed is not None:
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    @on(Input.Submitted, "#typed")
    def _typed_submitted(self) -> None:
        self.action_confirm()

    def action_confirm(self) -> None:
        if self._typed is None:
            self.dismiss("")
            return
        text = self.query_one("#typed", Input).value.strip()
        if text != self._typed:
            self._show_error(f"Type {self._typed} exactly to confirm (you typed "
                             f"{text!r}); Escape cancels.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _show_error(self, text: str) -> None:
        error = self.query_one("#error", Static)
        error.update(text)
        error.add_class("-shown")
