"""Answer one question: its options as choices, or free text when it has none.

Posts :class:`AnswerForm.Answered` with the question and the answer text; the screen
sends it (``api.answer``). An empty free-text answer is refused in place.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from hivetui.core.ages import SYSTEM_CLOCK, Clock, format_age
from hivetui.core.views import Question
from hivetui.core.visible import visible, visible_line

EMPTY_ANSWER = "An answer is required: type it, then press enter."


class AnswerForm(Vertical):
    """The selected question in full, and the way to answer it."""

    question: reactive[Question | None] = reactive(None, recompose=True)

    class Answered(Message):
        """The operator chose or typed ``answer`` for ``question``."""

        def __init__(self, form: AnswerForm, question: Question, answer: str) -> None:
            super().__init__()
            self.form = form
            self.question = question
            self.answer = answer

        @property
        def control(self) -> AnswerForm:
            return self.form

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock

    def compose(self) -> ComposeResult:
        q = self.question
        if q is None:
            yield Static("No questions waiting: when an agent asks, it shows here.",
                         id="answer-empty")
            return
        age = format_age(q.created_at, self._clock())
        yield Static(Text(visible_line(f"#{q.id} from {q.agent} · {age} ago")),
                     id="answer-from")
        yield Static(Text(visible(q.question)), id="answer-question")
        if q.options:
            yield Static("Choose an answer (enter sends it):", classes="answer-hint")
            options = [Option(Text(visible_line(o)), id=str(i)) for i, o in enumerate(q.options)]
            yield OptionList(*options, id="answer-options", markup=False)
        else:
            yield Static("Type an answer (enter sends it):", classes="answer-hint")
            yield Input(placeholder="your answer", id="answer-text", max_length=4000)
        yield Static("", id="answer-error")

    def show(self, question: Question | None) -> None:
        if question != self.question:
            self.question = question

    def focus_answer(self) -> bool:
        """Move focus to the choices or the text box; False when there is no question."""
        for widget in self.query("#answer-options, #answer-text"):
            widget.focus()
            return True
        return False

    @property
    def has_focus_within(self) -> bool:
        focused = self.screen.focused
        return focused is not None and self in focused.ancestors

    @on(OptionList.OptionSelected, "#answer-options")
    def _option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        q = self.question
        if q is not None and event.option_index < len(q.options):
            self.post_message(self.Answered(self, q, q.options[event.option_index]))

    @on(Input.Submitted, "#answer-text")
    def _text_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        q = self.question
        if q is None:
            return
        text = event.value.strip()
        error = self.query_one("#answer-error", Static)
        if not text:
            error.update(EMPTY_ANSWER)
            error.add_class("-shown")
            return
        error.remove_class("-shown")
        self.post_message(self.Answered(self, q, text))
