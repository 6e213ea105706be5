"""Questions: what agents asked the operator, and the answer form for the selected one.

Talks only to :class:`hivetui.core.api.HiveAPI`. Live updates like the approvals
screen: the app posts :class:`~hivetui.tui.widgets.approvals.live.LiveEvent`
(``QuestionAsked``, ``OperatorAnswer`` and ``Lagged`` re-read the list) or calls
:meth:`refresh_questions`; or build it with ``subscribe=True``.

Keys: ``j``/``k`` move, ``a`` or ``enter`` answer (focus the choices or the text box; enter there
sends), ``R`` re-read, ``escape`` back to the list, then back.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from hivetui.core.api import HiveAPI
from hivetui.core.events import Event, Lagged, OperatorAnswer, QuestionAsked
from hivetui.core.views import Question
from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.widgets.approvals.age import SYSTEM_CLOCK, Clock
from hivetui.tui.widgets.approvals.answer_form import AnswerForm
from hivetui.tui.widgets.approvals.calls import ApiCalls
from hivetui.tui.widgets.approvals.live import LiveEvent
from hivetui.tui.widgets.approvals.question_list import QuestionList

LIVE_EVENTS = (QuestionAsked, OperatorAnswer, Lagged)
AGE_TICK_S = 10.0


class QuestionsScreen(Screen[None]):
    """Pending questions; answer with one of the options or free text."""

    CSS_PATH = style_path("questions.tcss")
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"), (150, "-wide"),
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "answer", "Answer"),
        Binding("enter", "answer", "Answer", show=False),
        Binding("j", "cursor_down", "Next question", show=False),
        Binding("k", "cursor_up", "Previous question", show=False),
        Binding("R", "refresh", "Re-read", show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, api: HiveAPI, *, clock: Clock = SYSTEM_CLOCK,
                 subscribe: bool = False) -> None:
        super().__init__()
        self.api = api
        self.calls = ApiCalls(self)
        self._clock = clock
        self._subscribe = subscribe

    def compose(self) -> ComposeResult:
        yield Static("Questions", id="questions-title", markup=False)
        with Vertical(id="questions-body"):
            yield QuestionList(clock=self._clock, id="questions-list")
            yield AnswerForm(clock=self._clock, id="questions-answer")
        yield Footer()

    async def on_mount(self) -> None:
        self.question_list.focus()
        await self.refresh_questions()
        self.set_interval(AGE_TICK_S, self.question_list.refresh_ages)
        if self._subscribe:
            self._follow_events()

    @property
    def question_list(self) -> QuestionList:
        return self.query_one("#questions-list", QuestionList)

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
        text = f"Questions · {count} waiting" if count else "Questions · none waiting"
        if self.api.read_only:
            text += " · read-only operator"
        self.query_one("#questions-title", Static).update(text)

    @work(exclusive=True, group="live-events")
    async def _follow_events(self) -> None:
        async for event in self.api.events():
            self.post_message(LiveEvent(event))

    @on(LiveEvent)
    async def _live_event(self, message: LiveEvent) -> None:
        await self.handle_event(message.event)

    async def handle_event(self, event: Event) -> None:
        """React to one live event (the app may call this instead of posting LiveEvent)."""
        if isinstance(event, LIVE_EVENTS):
            await self.refresh_questions()

    # --- widgets' messages ------------------------------------------------------------
    @on(QuestionList.Highlighted)
    def _highlighted(self, message: QuestionList.Highlighted) -> None:
        self.form.show(message.question)
        self.refresh_bindings()

    @on(QuestionList.Opened)
    def _opened(self, message: QuestionList.Opened) -> None:
        self.action_answer()

    @on(AnswerForm.Answered)
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
        if action == "answer" and (self.question_list.selected is None or self.api.read_only):
            return None
        return True

    def action_cursor_down(self) -> None:
        self.question_list.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.question_list.action_cursor_up()

    def action_answer(self) -> None:
        self.form.focus_answer()

    async def action_refresh(self) -> None:
        await self.refresh_questions()

    def action_back(self) -> None:
        if self.form.has_focus_within:
            self.question_list.focus()
        elif len(self.app.screen_stack) > 1 and self.app.screen is self:
            self.dismiss()
