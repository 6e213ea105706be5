"""The approval queue: one row per pending request, emitting what the operator picked."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from hivetui.core.views import Approval
from hivetui.tui.widgets.approvals.age import SYSTEM_CLOCK, Clock, format_age

KIND_LABELS = {"spawn": "spawn", "spawn_commit": "spawn draft", "apply_commit": "apply config"}


def short_commit(commit: str) -> str:
    return commit[:8] if commit else "—"


class ApprovalQueue(DataTable[str | Text]):
    """Rows keyed by approval id. Posts :class:`Highlighted` and :class:`Opened`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open"),  # shown: DataTable's own is hidden
        Binding("j", "cursor_down", "Next", show=False),
        Binding("k", "cursor_up", "Previous", show=False),
    ]

    class Highlighted(Message):
        """The cursor is on ``approval`` (None: the queue is empty)."""

        def __init__(self, queue: ApprovalQueue, approval: Approval | None) -> None:
            super().__init__()
            self.queue = queue
            self.approval = approval

    class Opened(Message):
        """The operator pressed enter on ``approval``."""

        def __init__(self, queue: ApprovalQueue, approval: Approval) -> None:
            super().__init__()
            self.queue = queue
            self.approval = approval

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._clock = clock
        self._approvals: dict[str, Approval] = {}

    def on_mount(self) -> None:
        self.add_column("#", key="id")
        self.add_column("kind", key="kind")
        self.add_column("agent", key="agent")
        self.add_column("commit", key="commit")
        self.add_column("requested by", key="by")
        self.add_column("age", key="age")

    @property
    def selected(self) -> Approval | None:
        if not self._approvals or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._approvals.get(key or "")

    @property
    def approvals(self) -> list[Approval]:
        return list(self._approvals.values())

    def show(self, approvals: list[Approval]) -> None:
        """Replace the rows, keeping the cursor on the same request where it still exists."""
        previous = self.selected
        now = self._clock()
        index = min(self.cursor_row, max(0, len(approvals) - 1))
        self.clear()
        self._approvals = {str(a.id): a for a in approvals}
        for i, a in enumerate(approvals):
            self.add_row(str(a.id), KIND_LABELS.get(a.kind, a.kind), Text(a.agent),
                         Text(short_commit(a.commit)), Text(a.requested_by),
                         format_age(a.created_at, now), key=str(a.id))
            if previous is not None and a.id == previous.id:
                index = i
        if approvals:
            self.move_cursor(row=index, animate=False)
        self._announce()

    def refresh_ages(self) -> None:
        now = self._clock()
        for key, a in self._approvals.items():
            self.update_cell(key, "age", format_age(a.created_at, now))

    def _announce(self) -> None:
        self.post_message(self.Highlighted(self, self.selected))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        approval = self._approvals.get(event.row_key.value or "")
        if approval is not None:
            self.post_message(self.Opened(self, approval))
