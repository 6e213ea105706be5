"""Pending questions from agents, one row each; emits the question under the cursor."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message

from hivetui.core.ages import format_age
from hivetui.core.views import Question
from hivetui.core.visible import visible_line
from hivetui.tui.widgets.approvals.record_table import RecordTable

HEADLINE = 60


def headline(question: str) -> str:
    """The first line of a question, cut to fit a table cell, its controls shown."""
    text = question.strip()
    first = text.split("\n")[0] if text else ""
    shown = visible_line(first)
    if len(shown) > HEADLINE or first != text:
        shown = shown[: HEADLINE - 1].rstrip() + "…"
    return shown


class QuestionList(RecordTable[Question]):
    """Rows keyed by question id. Posts :class:`Highlighted` and :class:`Opened`."""

    COLUMNS = (("#", "id"), ("from", "agent"), ("age", "age"), ("question", "question"))

    class Highlighted(Message):
        """The cursor is on ``question`` (None: nothing is waiting)."""

        def __init__(self, questions: QuestionList, question: Question | None) -> None:
            super().__init__()
            self.questions = questions
            self.question = question

        @property
        def control(self) -> QuestionList:
            return self.questions

    class Opened(Message):
        """The operator pressed enter on ``question``: time to answer it."""

        def __init__(self, questions: QuestionList, question: Question) -> None:
            super().__init__()
            self.questions = questions
            self.question = question

        @property
        def control(self) -> QuestionList:
            return self.questions

    @property
    def _questions(self) -> dict[str, Question]:
        return self._records

    def _cells(self, record: Question, now: float) -> tuple[str | Text, ...]:
        q = record
        return (str(q.id), Text(visible_line(q.agent)), format_age(q.created_at, now),
                Text(headline(q.question)))

    def _highlighted_message(self, record: Question | None) -> Message:
        return self.Highlighted(self, record)

    def _opened_message(self, record: Question) -> Message:
        return self.Opened(self, record)
