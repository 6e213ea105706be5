"""The messages tab: history by kind, and a compose box that sends as the operator.

In the compose box ``/model MODEL`` sets this agent's model (the seed's slash command);
``//text`` sends a message that starts with ``/``. A read-only session cannot compose: ``c``
is not offered and, pressed, says why (:mod:`hivetui.tui.screens.read_only`).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select

from hivetui.core.api import HiveAPI
from hivetui.core.bus import BusMessage
from hivetui.core.events import MessageSent
from hivetui.core.kinds import MESSAGE_KINDS
from hivetui.tui.commands import CommandError, SetModel, parse_compose
from hivetui.tui.guard import attempt
from hivetui.tui.screens.read_only import refuse_read_only
from hivetui.tui.widgets.agent.message_log import DEAD, MessageLog


class MessagesPane(Vertical):
    BINDINGS = [
        Binding("c", "compose", "Compose"),
        Binding("escape", "leave_compose", "Stop composing", show=False),
    ]
    READ_ONLY_REFUSED: ClassVar[dict[str, str]] = {"compose": "send messages"}

    def __init__(self, api: HiveAPI, agent: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.api = api
        self.agent = agent
        self.loaded = False
        self.dead_letters = 0  # as of the last load: a change means reload

    def compose(self) -> ComposeResult:
        with Horizontal(id="messages-bar"):
            yield Label("kind", id="kind-label")
            yield Select([(k, k) for k in ("all", *MESSAGE_KINDS, DEAD)], value="all",
                         allow_blank=False, id="kind", compact=True)
        yield MessageLog(self.agent, id="message-log")
        yield Label("", id="compose-error", markup=False)
        yield Input(placeholder=f"message to {self.agent} — or /model MODEL", id="compose")

    async def load(self, dead_letters: int = 0) -> None:
        history = await attempt(self.app, self.api.inbox(self.agent, 200))
        if history is not None:
            self.query_one(MessageLog).set_messages(history)
            self.loaded = True
            self.dead_letters = dead_letters

    def add_live(self, events: tuple[MessageSent, ...]) -> None:
        log = self.query_one(MessageLog)
        for ev in events:
            if self.agent in (ev.sender, ev.recipient):
                log.add(BusMessage(ev.id, ev.sender, ev.recipient, ev.kind, ev.body, ev.ts))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self.READ_ONLY_REFUSED and self.api.read_only)

    def action_compose(self) -> None:
        self.query_one("#compose", Input).focus()

    def action_leave_compose(self) -> None:
        if not self.query_one("#compose", Input).has_focus:
            raise SkipAction()  # escape then goes back, as everywhere else
        self.query_one(MessageLog).focus()

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        self.query_one(MessageLog).set_kind(str(event.value))

    @on(Input.Submitted, "#compose")
    async def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        box = event.input
        error = self.query_one("#compose-error", Label)
        try:
            action = parse_compose(box.value, self.agent)
        except CommandError as exc:
            error.update(exc.message)
            error.add_class("-shown")
            return
        error.remove_class("-shown")
        what = f"set {self.agent}'s model" if isinstance(action, SetModel) else \
            f"send to {self.agent}"
        if refuse_read_only(self.app, self.api, what):  # typed in by mouse
            return
        if isinstance(action, SetModel):
            view = await attempt(self.app, self.api.set_model(action.name, action.model,
                                                              action.persist))
            if view is not None:
                box.value = ""
                self.app.notify(f"{action.name} now uses {view.effective_model}",
                                title="Model", markup=False)
            return
        sent = await attempt(self.app, self.api.send(self.agent, action.text))
        if sent is not None:
            box.value = ""
            self.query_one(MessageLog).add(sent)
