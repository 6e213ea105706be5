"""An agent's messages, newest last, filterable by kind (peer, operator, manager, system), or
only those set aside as dead (``DEAD``), which are marked wherever they show."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from hivetui.core.bus import BusMessage
from hivetui.core.kinds import MESSAGE_KINDS
from hivetui.core.visible import visible, visible_line

DEAD = "dead"  # the filter that shows only dead letters


class MessageLog(RichLog):
    COMPONENT_CLASSES = {"msg--time", "msg--who", "msg--peer", "msg--operator",
                         "msg--manager", "msg--system", "msg--dead"}
    DEFAULT_CSS = """
    MessageLog > .msg--time { color: $text-muted; }
    MessageLog > .msg--who { text-style: bold; }
    MessageLog > .msg--peer { color: $text-accent; }
    MessageLog > .msg--operator { color: $text-primary; }
    MessageLog > .msg--manager { color: $text-warning; }
    MessageLog > .msg--system { color: $text-muted; }
    MessageLog > .msg--dead { color: $text-error; }
    """

    def __init__(self, agent: str, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=2000,
                         auto_scroll=True)
        self.agent = agent
        self.kind = "all"
        self.messages: dict[int, BusMessage] = {}

    def set_messages(self, messages: list[BusMessage]) -> None:
        self.messages = {m.id: m for m in messages}
        self._redraw()

    def add(self, message: BusMessage) -> None:
        if message.id in self.messages:
            return
        self.messages[message.id] = message
        if self._wanted(message):
            self.write(self._line(message))

    def set_kind(self, kind: str) -> None:
        self.kind = kind
        self._redraw()

    def shown(self) -> list[BusMessage]:
        return [m for m in sorted(self.messages.values(), key=lambda m: m.id) if self._wanted(m)]

    def _wanted(self, message: BusMessage) -> bool:
        if self.kind == DEAD:
            return message.dead_at is not None
        return self.kind == "all" or message.kind == self.kind

    def _redraw(self) -> None:
        self.clear()
        for message in self.shown()[-self.max_lines if self.max_lines else 0:]:
            self.write(self._line(message))

    def _line(self, m: BusMessage) -> Text:
        text = Text()
        text.append(time.strftime("%H:%M:%S", time.localtime(m.ts)) + "  ",
                    self.get_component_rich_style("msg--time", partial=True))
        arrow = "→" if m.sender != self.agent else "⇢"
        text.append(visible_line(f"{m.sender} {arrow} {m.recipient}"),
                    self.get_component_rich_style("msg--who", partial=True))
        text.append(visible_line(f"  [{m.kind}]  "),
                    self.get_component_rich_style(f"msg--{m.kind}", partial=True)
                    if m.kind in MESSAGE_KINDS else "")
        text.append(visible(m.body))
        if m.dead_at is not None:
            failure = visible_line(m.last_failure or "")
            text.append(f"\n    ✗ set aside after {m.attempts} failed turn(s): {failure}",
                        self.get_component_rich_style("msg--dead", partial=True))
        return text
