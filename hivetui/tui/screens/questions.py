"""Questions: what agents asked the operator, and the answer form for the selected one.

Talks only to :class:`hivetui.core.api.HiveAPI`. Live updates as every queue screen
(:mod:`hivetui.tui.screens.queue_base`): ``QuestionAsked``, ``OperatorAnswer`` and ``Lagged``
re-read the list, or the app calls :meth:`refresh_questions`.

Keys: ``j``/``k`` move, ``a`` or ``enter`` answer (focus the choices or the text box; enter there
sends), ``R`` re-read, ``escape`` back to the list, then back.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from hivetui.core.events import Lagged, OperatorAnswer, QuestionAsked
from hivetui.core.views import Question
from hivetui.tui.screens.queue_base import QueueScreen, queue_bindings
from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.widgets.approvals.answer_form import AnswerForm
from hivetui.tui.widgets.approvals.question_list import QuestionList
from hivetui.tui.widgets.chrome.footer import HiveFooter

LIVE_EVENTS = (QuestionAsked, OperatorAnswer, Lagged)
AGE_TICK_S = 10.0


class QuestionsScreen(QueueScreen):
    """Pending questions; answer with one of the options or free text."""

    CSS_PATH = style_path("questions.tcss")
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"), (150, "-wide"),
    ]
    LIVE_EVENTS = LIVE_EVENTS
    AGE_TICK_S = AGE_TICK_S
    QUEUE = "questions"
    READ_ONLY_REFUSED = {"answer": "answer a question"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "answer", "Answer"),
        Binding("enter", "answer", "Answer", show=False),
        *queue_bindings("Next question", "Previous question"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Questions", id="questions-title", markup=False)
        with Vertical(id="questions-body"):
            yield QuestionList(clock=self._clock, id="questions-list")
            yield AnswerForm(clock=self._clock, id="questions-answer")
        yield HiveFooter()

    @property
    def question_list(self) -> QuestionList:
        return self.query_one("#questions-list", QuestionList)

    main_list = question_list

    @property
    def form(self) -> AnswerForm:
        return self.query_one("#questions-answer", AnswerForm)

    async def refresh_questions(self) -> None:
        """Re-read the pending questions from the API and show them."""
        questions = await self.calls.read("read questions", self.api.questions())
        if questions is None or not self.is_attached:
            return
        self.question_list.show(questions)
        self.form.show(self.question_list.selected)
        count = len(questions)
        self._show_title("#questions-title",
                         f"Questions · {count} waiting" if count else "Questions · none waiting")

    async def reread(self) -> None:
        await self.refresh_questions()

    def _tick(self) -> None:
        self.question_list.refresh_ages()

    # --- widgets' messages ------------------------------------------------------------
    @on(QuestionList.Highlighted, "#questions-list")
    def _highlighted(self, message: QuestionList.Highlighted) -> None:
        self.form.show(message.question)
        self.refresh_bindings()

    @on(QuestionList.Opened, "#questions-list")
    def _opened(self, message: QuestionList.Opened) -> None:
        if not self.refuse("answer"):  # enter on the list: its own key, not the screen's
            self.action_answer()

    @on(AnswerForm.Answered, "#questions-answer")
    def _answered(self, message: AnswerForm.Answered) -> None:
        q = message.question
        self.calls.run(f"question-{q.id}", f"answer #{q.id}", self.api.answer(q.id, message.answer),
                       self._sent)

    def _sent(self, question: Question) -> None:
        self.notify(f"{question.agent} receives: {question.answer}",
                    title=f"Answered #{question.id}")
        self.question_list.focus()
        self.call_later(self.refresh_questions)

    # --- actions -----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)  # read-only: answer
        if allowed and action == "answer" and self.question_list.selected is None:
            return None
        return allowed

    def action_answer(self) -> None:
        self.form.focus_answer()

    def _step_back(self) -> bool:
        if not self.form.has_focus_within:
            return False
        self.question_list.focus()
        return True
