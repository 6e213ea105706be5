"""The key an alert's toast names opens its queue from where the operator is.

"Approval requested … press a" must be true on the agent screen as on the fleet (it was
not: `a` did nothing there), and a toast names another way in where `a` means something
else (a text box, the embedded terminal, a dialog). On its own queue an alert rings the
bell and shows in the list, with no toast over the diff it announces. Over a real hive
(real sqlite); the containers are the recording fake."""

from __future__ import annotations

from hivetui.core.events import ApprovalRequested, Notification, QuestionAsked
from hivetui.core.hive import Hive
from hivetui.tui.screens.agent_detail import AgentDetailScreen
from hivetui.tui.screens.approvals import ApprovalsScreen
from hivetui.tui.screens.prompt import PromptScreen
from hivetui.tui.screens.questions import QuestionsScreen
from tests.functional.test_tui_app import hive, make_app, open_agent, rows, until

__all__ = ["hive"]  # the fixture: four running agents over the recording fake backend


def ask(hive: Hive) -> None:
    hive.hub.publish(QuestionAsked(id=3, agent="bob", question="bump the lockfile?"))


def request(hive: Hive) -> None:
    hive.hub.publish(ApprovalRequested(id=7, kind="spawn", agent="dave"))


async def test_a_and_w_open_the_queues_from_the_agent_screen(hive: Hive) -> None:
    app, toasts = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await open_agent(pilot, app, "alice")
        request(hive)
        await until(lambda: len(toasts) == 1)
        assert toasts[0][:2] == ("Approval requested", "#7 spawn for dave — press a")
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, ApprovalsScreen))

        await pilot.press("escape")
        await open_agent(pilot, app, "bob")
        ask(hive)
        await until(lambda: len(toasts) == 2)
        assert toasts[1][:2] == ("Question from bob", "bump the lockfile? — press w")
        await pilot.press("w")
        await until(lambda: isinstance(app.screen, QuestionsScreen))
        # its footer offers its own a (answer), not the app's
        await until(lambda: [k.key for k in app.screen.query("FooterKey")][:1] == ["a"])  # type: ignore[attr-defined]


async def test_the_toast_names_the_way_in_from_a_text_box_or_a_dialog(hive: Hive) -> None:
    app, toasts = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = await open_agent(pilot, app, "alice")
        await pilot.press("2", "c")  # the messages tab, typing into the compose box
        await until(lambda: screen.query_one("#compose").has_focus)
        request(hive)
        await until(lambda: len(toasts) == 1)
        assert toasts[0][1].endswith("— escape then a")
        await pilot.press("escape", "a")
        await until(lambda: isinstance(app.screen, ApprovalsScreen))

        await pilot.press("escape", "escape")
        await until(lambda: not isinstance(app.screen, ApprovalsScreen | AgentDetailScreen))
        await pilot.press("m")  # the model dialog
        await until(lambda: isinstance(app.screen, PromptScreen))
        ask(hive)
        await until(lambda: len(toasts) == 2)
        assert toasts[1][1].endswith("— after this dialog, w or :questions")


async def test_on_its_own_queue_an_alert_is_no_toast(hive: Hive) -> None:
    app, toasts = make_app(hive)
    app.ring_bell = True
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, ApprovalsScreen))
        request(hive)
        await until(lambda: app.bells == 1)
        ask(hive)  # another queue's alert: a toast; here too w opens the questions
        hive.hub.publish(Notification(level="info", title="marker", text="-"))
        await until(lambda: any(title == "marker" for title, _, _ in toasts))
        assert [t[:2] for t in toasts if t[0] != "marker"] == [
            ("Question from bob", "bump the lockfile? — press w")]
