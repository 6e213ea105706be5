"""The table both operator queues build on: one row per pending record, keyed by its id.

:class:`~hivetui.tui.widgets.approvals.queue.ApprovalQueue` and
:class:`~hivetui.tui.widgets.approvals.question_list.QuestionList` differ only in their
columns, their cells and the messages they post; the row bookkeeping lives here.
"""

from __future__ import annotations

from typing import ClassVar, Generic, Protocol, TypeVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from hivetui.core.ages import SYSTEM_CLOCK, Clock, format_age


class PendingRecord(Protocol):
    """What a row needs of a record: an id to key it by and when it was created."""

    @property
    def id(self) -> int: ...

    @property
    def created_at(self) -> float: ...


R = TypeVar("R", bound=PendingRecord)


class RecordTable(DataTable[str | Text], Generic[R]):
    """Rows keyed by ``str(record.id)``, an ``age`` column kept fresh, the cursor kept on the
    same record across :meth:`show`. Subclasses give :attr:`COLUMNS`, :meth:`_cells` and the
    two messages (:meth:`_highlighted_message`, :meth:`_opened_message`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Next", show=False),
        Binding("k", "cursor_up", "Previous", show=False),
    ]

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(label, key) per column; one of the keys must be ``age``."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._clock = clock
        self._records: dict[str, R] = {}

    def on_mount(self) -> None:
        for label, key in self.COLUMNS:
            self.add_column(label, key=key)

    # --- what a subclass says ---------------------------------------------------------
    def _cells(self, record: R, now: float) -> tuple[str | Text, ...]:
        raise NotImplementedError

    def _highlighted_message(self, record: R | None) -> Message:
        raise NotImplementedError

    def _opened_message(self, record: R) -> Message:
        raise NotImplementedError

    # --- rows -------------------------------------------------------------------------
    @property
    def selected(self) -> R | None:
        if not self._records or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._records.get(key or "")

    def show(self, records: list[R]) -> None:
        """Replace the rows, keeping the cursor on the same record where it still exists."""
        previous = self.selected
        now = self._clock()
        index = min(self.cursor_row, max(0, len(records) - 1))
        self.clear()
        self._records = {str(r.id): r for r in records}
        for i, r in enumerate(records):
            self.add_row(*self._cells(r, now), key=str(r.id))
            if previous is not None and r.id == previous.id:
                index = i
        if records:
            self.move_cursor(row=index, animate=False)
        self._announce()

    def refresh_ages(self) -> None:
        now = self._clock()
        for key, r in self._records.items():
            self.update_cell(key, "age", format_age(r.created_at, now))

    def _announce(self) -> None:
        self.post_message(self._highlighted_message(self.selected))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        record = self._records.get(event.row_key.value or "")
        if record is not None:
            self.post_message(self._opened_message(record))
