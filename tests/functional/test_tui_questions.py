"""QuestionsScreen driven by keys over a real hive: options as choices, free text, errors."""

from __future__ import annotations

from hivetui.core.events import QuestionAsked
from hivetui.core.hive import Hive
from hivetui.tui.screens.questions import QuestionsScreen
from hivetui.tui.widgets.approvals.answer_form import EMPTY_ANSWER
from hivetui.tui.widgets.approvals.live import LiveEvent
from tests.tui_queue_fixtures import (
    ScreenHost,
    fixed_clock,
    operator_session,
    seed_questions,
    settle,
    toasts,
)


def _host(hive: Hive, *, read_only: bool = False) -> ScreenHost:
    return ScreenHost(lambda api: QuestionsScreen(api, clock=fixed_clock),
                      api=operator_session(hive, read_only))


def _screen(host: ScreenHost) -> QuestionsScreen:
    screen = host.screen
    assert isinstance(screen, QuestionsScreen)
    return screen


async def test_answer_with_one_of_the_options(hive: Hive) -> None:
    q1, q2 = await seed_questions(hive)
    app = _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert screen.question_list.selected is not None
        assert screen.question_list.selected.id == q1
        await pilot.press("a")  # focus the choices
        await pilot.press("down", "enter")  # the second option
        await settle(pilot)
        answered = await hive.questions.get(q1)
        assert answered.state == "answered"
        assert answered.answer == "release-1.2"
        assert answered.answered_by == "local:tester"
        assert [q.id for q in screen.question_list._questions.values()] == [q2]
        assert any(t.title == f"Answered #{q1}" for t in toasts(app))
        assert screen.focused is screen.question_list


async def test_answer_with_free_text_and_an_empty_one_is_refused(hive: Hive) -> None:
    _, q2 = await seed_questions(hive)
    app = _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = _screen(app)
        await pilot.press("j", "enter")  # the free-text question, open the answer box
        await pilot.pause()
        assert screen.form.question is not None and screen.form.question.id == q2
        await pilot.press("enter")  # empty
        await settle(pilot)
        assert (await hive.questions.get(q2)).state == "pending"
        assert EMPTY_ANSWER in str(screen.query_one("#answer-error").render())
        await pilot.press(*"ship it, jk", "enter")  # j/k type into the box, not move
        await settle(pilot)
        answered = await hive.questions.get(q2)
        assert answered.state == "answered"
        assert answered.answer == "ship it, jk"


async def test_an_api_refusal_is_a_toast(hive: Hive) -> None:
    q1, _ = await seed_questions(hive)
    app = _host(hive)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        # another operator answers first; this screen has not heard of it yet
        await hive.questions.answer(q1, "local:other", "main")
        await pilot.press("a", "enter")
        await settle(pilot)
        errors = [t for t in toasts(app) if t.severity == "error"]
        assert len(errors) == 1
        assert errors[0].title == "Question error"
        assert "already answered" in errors[0].message
        assert (await hive.questions.get(q1)).answer == "main"
        assert isinstance(app.screen, QuestionsScreen)


async def test_a_new_question_arrives_live(hive: Hive) -> None:
    app = _host(hive)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert screen.question_list.selected is None
        q = await hive.questions.ask("boss", "Proceed?", ["yes", "no"])
        screen.post_message(LiveEvent(QuestionAsked(id=q.id, agent="boss", question="Proceed?",
                                                    options=("yes", "no"))))
        await settle(pilot)
        assert screen.question_list.selected is not None
        assert screen.question_list.selected.id == q.id
        await pilot.press("escape")  # the base screen of the host is under it
        await pilot.pause()
        assert not isinstance(app.screen, QuestionsScreen)


async def test_read_only_operator_is_told_why_it_cannot_answer(hive: Hive) -> None:
    q1, _ = await seed_questions(hive)
    app = _host(hive, read_only=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = _screen(app)
        assert "read-only" in str(screen.query_one("#questions-title").render())
        assert not screen.active_bindings["a"].enabled  # shown dimmed
        await pilot.press("a")  # the screen's key
        await pilot.press("enter")  # the list's own key (it opens the answer box)
        await settle(pilot)
        assert [(t.title, t.message.split(":")[1]) for t in toasts(app)] == [
            ("Read-only session", "tester may not answer a question")] * 2
        assert screen.focused is screen.question_list  # the answer box did not open
        assert (await hive.questions.get(q1)).state == "pending"
