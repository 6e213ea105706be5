"""Spawn drafts: proposed agents the manager is preparing (no container yet)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from hivetui.core.ages import SYSTEM_CLOCK, Clock, format_age
from hivetui.core.views import Draft
from hivetui.tui.widgets.approvals.queue import short_commit


class DraftList(DataTable[str | Text]):
    """Rows keyed by draft name: name, head commit, age."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Next", show=False),
        Binding("k", "cursor_up", "Previous", show=False),
    ]

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._clock = clock
        self._drafts: list[Draft] = []

    def on_mount(self) -> None:
        self.add_column("draft", key="name")
        self.add_column("head", key="head")
        self.add_column("age", key="age")

    @property
    def drafts(self) -> list[Draft]:
        return list(self._drafts)

    def show(self, drafts: list[Draft]) -> None:
        now = self._clock()
        cursor = self.cursor_row
        self.clear()
        self._drafts = list(drafts)
        for d in drafts:
            self.add_row(Text(d.name), Text(short_commit(d.head)),
                         format_age(d.created_at, now), key=d.name)
        if drafts:
            self.move_cursor(row=min(max(cursor, 0), len(drafts) - 1), animate=False)
