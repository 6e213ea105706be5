"""Pending questions from agents, one row each; emits the question under the cursor."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from hivetui.core.views import Question
from hivetui.tui.widgets.approvals.age import SYSTEM_CLOCK, Clock, format_age

HEADLINE = 60


def headline(question: str) -> str:
    """The first line of a question, cut to fit a table cell."""
    text = question.strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > HEADLINE or first != text:
        first = first[: HEADLINE - 1].rstrip() + "…"
    return first


class QuestionList(DataTable[str | Text]):
    """Rows keyed by question id. Posts :class:`Highlighted` and :class:`Opened`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Next", show=False),
        Binding("k", "cursor_up", "Previous", show=False),
    ]

    class Highlighted(Message):
        """The cursor is on ``question`` (None: nothing is waiting)."""

        def __init__(self, questions: QuestionList, question: Question | None) -> None:
            super().__init__()
            self.questions = questions
            self.question = question

    class Opened(Message):
        """The operator pressed enter on ``question``: time to answer it."""

        def __init__(self, questions: QuestionList, question: Question) -> None:
            super().__init__()
            self.questions = questions
            self.question = question

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._clock = clock
        self._questions: dict[str, Question] = {}

    def on_mount(self) -> None:
        self.add_column("#", key="id")
        self.add_column("from", key="agent")
        self.add_column("age", key="age")
        self.add_column("question", key="question")

    @property
    def selected(self) -> Question | None:
        if not self._questions or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._questions.get(key or "")

    def show(self, questions: list[Question]) -> None:
        """Replace the rows, keeping the cursor on the same question where it still exists."""
        previous = self.selected
        now = self._clock()
        index = min(self.cursor_row, max(0, len(questions) - 1))
        self.clear()
        self._questions = {str(q.id): q for q in questions}
        for i, q in enumerate(questions):
            self.add_row(str(q.id), Text(q.agent), format_age(q.created_at, now),
                         Text(headline(q.question)), key=str(q.id))
            if previous is not None and q.id == previous.id:
                index = i
        if questions:
            self.move_cursor(row=index, animate=False)
        self._announce()

    def refresh_ages(self) -> None:
        now = self._clock()
        for key, q in self._questions.items():
            self.update_cell(key, "age", format_age(q.created_at, now))

    def _announce(self) -> None:
        self.post_message(self.Highlighted(self, self.selected))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        question = self._questions.get(event.row_key.value or "")
        if question is not None:
            self.post_message(self.Opened(self, question))
