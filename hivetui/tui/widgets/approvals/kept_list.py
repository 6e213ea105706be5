"""Kept agents (destroyed, state and config kept): one row each, emitting the selection."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable


class KeptList(DataTable[str | Text]):
    """Rows keyed by agent name. Posts :class:`Highlighted`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Next", show=False),
        Binding("k", "cursor_up", "Previous", show=False),
    ]

    class Highlighted(Message):
        """The cursor is on kept agent ``name`` (None: nothing is kept)."""

        def __init__(self, kept: KeptList, name: str | None) -> None:
            super().__init__()
            self.kept = kept
            self.name = name

        @property
        def control(self) -> KeptList:
            return self.kept

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._names: list[str] = []

    def on_mount(self) -> None:
        self.add_column("kept agent", key="name")
        self.add_column("revive (r) or purge (p)", key="hint")

    @property
    def selected(self) -> str | None:
        if not self._names or not 0 <= self.cursor_row < len(self._names):
            return None
        return self._names[self.cursor_row]

    def show(self, names: list[str]) -> None:
        previous = self.selected
        index = min(self.cursor_row, max(0, len(names) - 1))
        self.clear()
        self._names = list(names)
        for i, name in enumerate(names):
            self.add_row(Text(name), Text("state and config kept", style="dim"), key=name)
            if name == previous:
                index = i
        if names:
            self.move_cursor(row=index, animate=False)
        self.post_message(self.Highlighted(self, self.selected))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self, self.selected))
