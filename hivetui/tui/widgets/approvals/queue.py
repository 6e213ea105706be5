"""The approval queue: one row per pending request, emitting what the operator picked."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message

from hivetui.core.ages import format_age
from hivetui.core.views import Approval
from hivetui.core.visible import visible_line
from hivetui.tui.widgets.approvals.record_table import RecordTable

KIND_LABELS = {"spawn": "spawn", "spawn_commit": "spawn draft", "apply_commit": "apply config"}


def short_commit(commit: str) -> str:
    return commit[:8] if commit else "—"


class ApprovalQueue(RecordTable[Approval]):
    """Rows keyed by approval id. Posts :class:`Highlighted` and :class:`Opened`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open"),  # shown: DataTable's own is hidden
    ]

    COLUMNS = (("#", "id"), ("kind", "kind"), ("agent", "agent"), ("commit", "commit"),
               ("requested by", "by"), ("age", "age"))

    class Highlighted(Message):
        """The cursor is on ``approval`` (None: the queue is empty)."""

        def __init__(self, queue: ApprovalQueue, approval: Approval | None) -> None:
            super().__init__()
            self.queue = queue
            self.approval = approval

        @property
        def control(self) -> ApprovalQueue:
            return self.queue

    class Opened(Message):
        """The operator pressed enter on ``approval``."""

        def __init__(self, queue: ApprovalQueue, approval: Approval) -> None:
            super().__init__()
            self.queue = queue
            self.approval = approval

        @property
        def control(self) -> ApprovalQueue:
            return self.queue

    @property
    def approvals(self) -> list[Approval]:
        return list(self._records.values())

    def _cells(self, record: Approval, now: float) -> tuple[str | Text, ...]:
        a = record
        return (str(a.id), visible_line(KIND_LABELS.get(a.kind, a.kind)),
                Text(visible_line(a.agent)), Text(visible_line(short_commit(a.commit))),
                Text(visible_line(a.requested_by)), format_age(a.created_at, now))

    def _highlighted_message(self, record: Approval | None) -> Message:
        return self.Highlighted(self, record)

    def _opened_message(self, record: Approval) -> Message:
        return self.Opened(self, record)
