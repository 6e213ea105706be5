"""Agent text reaches the operator's screen shown, never interpreted (issue 15, point 3).

Every view gets the issue's payloads (OSC 2 retitle, CSI colour, the C1 forms of CSI and
OSC, a carriage return) through the real hive, then the whole composed screen (what Textual
hands the terminal, line by line) is read back: it must hold no C0 control, no DEL and no
C1 control, and the payload must still be there in its visible form. A hypothesis property
then feeds random bytes through each view's renderer.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from textual.message import Message as TextualMessage
from textual.notifications import Notification, Notify

from hivetui.core.bus import BusMessage
from hivetui.core.events import AgentChanged
from hivetui.core.hive import Hive
from hivetui.tui.app import HiveApp
from hivetui.tui.commands import Navigate, OpenAgent
from hivetui.tui.messages import HiveCommand
from hivetui.tui.widgets.agent.info import AgentInfoPanel
from hivetui.tui.widgets.agent.log_pane import LogPane
from hivetui.tui.widgets.agent.message_log import MessageLog
from hivetui.tui.widgets.approvals.detail import ApprovalDetail, detail_lines
from hivetui.tui.widgets.approvals.question_list import headline
from hivetui.tui.widgets.approvals.queue import ApprovalQueue
from hivetui.tui.widgets.diff_view import DiffView
from hivetui.tui.widgets.fleet.table import FleetTable
from tests.tui_fixtures import fixture_app, settle

OSC_TITLE = "\x1b]2;pwned\x07"
CSI_RED = "\x1b[31mred\x1b[0m"
C1 = "\x9b31m\x9d2;c1-title\x9c"
CR = "visible\rforged"
PAYLOAD = f"A{OSC_TITLE}B{CSI_RED}C{C1}D{CR}"
#: what the terminal must never receive from agent text: C0 (the screen's lines hold no
#: newline of their own), DEL and C1
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f]")


def screen_lines(app: HiveApp) -> list[str]:
    """The composed screen, every layer (toasts included), as the terminal would get it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def assert_shown_not_interpreted(app: HiveApp, *, expect: str = "␛]2;pwned") -> None:
    lines = screen_lines(app)
    bad = [(i, line) for i, line in enumerate(lines) if FORBIDDEN.search(line)]
    assert not bad, f"control characters reach the terminal: {bad[:3]!r}"
    assert any(expect in line for line in lines), f"{expect!r} is not shown: {lines!r}"


def hive_of(app: HiveApp) -> Hive:
    hive: Hive = app.api.hive  # type: ignore[attr-defined]
    return hive


async def open_view(app: HiveApp, command: object) -> None:
    app.post_message(HiveCommand(command))  # type: ignore[arg-type]
    await settle(app)


DIFF_WITH_CR = (
    "diff --git a/prompt.md b/prompt.md\n"
    "--- a/prompt.md\n+++ b/prompt.md\n"
    "@@ -1,3 +1,3 @@\n"
    " first\n"
    f"-old {OSC_TITLE}\rdiff --git a/forged b/forged\n"
    f"+new {C1}\x0bvertical\x0cfeed\x1cfs\x85nel\u2028ls\n"
    " last\n"
)


async def test_every_view_shows_agent_escapes_visibly(tmp_path: Path) -> None:
    app = fixture_app(tmp_path / "state")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app)
        hive = hive_of(app)
        # fleet DETAIL (bob's: alice is in a turn, and her DETAIL shows her current action)
        await hive.registry.update("bob", status_detail=PAYLOAD)
        await hive.registry.update("alice", status_detail=PAYLOAD)
        await settle(app)
        await pilot.pause()
        assert_shown_not_interpreted(app)
        # a toast: a question from the manager
        await hive.questions.ask("boss", PAYLOAD, [PAYLOAD])
        await settle(app)
        await pilot.pause()
        assert_shown_not_interpreted(app)
        app.clear_notifications()
        # agent overview (info: status detail and model), then messages, then logs
        await hive.registry.update("alice", model_override=f"m{CSI_RED}")
        await hive.bus.send("alice", "boss", PAYLOAD)
        app.fixture_backend.log_lines["alice"] = [PAYLOAD]  # type: ignore[attr-defined]
        await open_view(app, OpenAgent("alice"))
        await pilot.pause()
        assert_shown_not_interpreted(app)
        assert_shown_not_interpreted(app, expect="m␛[31mred")
        for tab in ("messages", "logs"):
            await open_view(app, OpenAgent("alice", tab))
            await pilot.pause()
            assert_shown_not_interpreted(app)
        # the questions screen (list and answer form)
        await open_view(app, Navigate("questions"))
        await pilot.pause()
        assert_shown_not_interpreted(app)
        # the approvals screen: detail lines and the diff with a CR in a config line
        await hive.store.execute(
            "INSERT INTO approvals (kind, agent, commit_sha, diff, detail, requested_by, "
            "created_at) VALUES (?,?,?,?,?,?,?)",
            ("apply_commit", "alice", "0" * 40, DIFF_WITH_CR, f'{{"why": "{C1}"}}', "boss",
             0.0))
        hive.hub.publish(AgentChanged(agent="alice", what="approval"))
        await open_view(app, Navigate("approvals"))
        detail = app.screen.query_one(ApprovalDetail)
        approvals = app.screen.query_one("ApprovalQueue").approvals  # type: ignore[attr-defined]
        detail.show(next(a for a in approvals if a.agent == "alice"))
        await pilot.pause()
        assert_shown_not_interpreted(app, expect="␛]2;pwned␇␍diff --git a/forged")


def test_a_carriage_return_never_breaks_a_diff_line() -> None:
    """``splitlines`` cut config lines at \\r (and \\v, \\f, \\x1c, \\x85, U+2028): a forged
    header appeared and the next line lost its number."""
    from hivetui.tui.widgets.diff_side_by_side import parse_unified

    lines = parse_unified(DIFF_WITH_CR)
    body = [line for line in lines if line.kind in ("add", "del", "ctx")]
    assert [(line.kind, line.old_no, line.new_no) for line in body] == [
        ("ctx", 1, 1), ("del", 2, None), ("add", None, 2), ("ctx", 3, 3)]
    assert [line.kind for line in lines].count("file") == 3  # diff --git, ---, +++
    assert body[1].text == "old ␛]2;pwned␇␍diff --git a/forged b/forged"
    assert body[2].text == "new \\x9b31m\\x9d2;c1-title\\x9c␋vertical␌feed␜fs\\x85nel\u2028ls"


# --- the property: random bytes through each view's renderer ----------------------------

def _decoded(raw: bytes) -> list[str]:
    """The ways agent bytes become text on their way in: UTF-8 with replacement (HTTP,
    JSON), with surrogate escapes (logs read leniently) and latin-1 (every C1 code point)."""
    return [raw.decode("utf-8", "replace"), raw.decode("utf-8", "surrogateescape"),
            raw.decode("latin-1")]


def _text_of(console: Console, renderable: object, width: int = 120) -> str:
    segments = console.render(renderable, console.options.update_width(width))  # type: ignore[arg-type]
    return "".join(s.text for s in segments if not s.control)


def detail_lines_json(text: str) -> str:
    """An approval's detail as the manager sends it: a JSON object of strings."""
    return "".join(detail_lines(json.dumps({"why": text, text: "key"})))


def _assert_clean(text: str) -> None:
    stripped = text.replace("\n", "")
    assert not FORBIDDEN.search(stripped), repr(stripped)
    assert not re.search("[\ud800-\udfff]", stripped), repr(stripped)


PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


async def test_random_bytes_render_without_controls_in_every_view(tmp_path: Path) -> None:
    app = fixture_app(tmp_path / "state")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app)
        console = app.console
        base = next(iter(app.hive_context.state.agents.values()))
        fleet = app.screen.query_one(FleetTable)
        toasts: list[Notification] = []
        post = app.post_message

        def recording_post(message: TextualMessage) -> bool:
            if isinstance(message, Notify):
                toasts.append(message.notification)
            return post(message)

        app.post_message = recording_post  # type: ignore[method-assign]

        @PROPERTY
        @given(st.binary(max_size=120))
        def fleet_and_toasts(raw: bytes) -> None:
            for text in _decoded(raw):
                view = replace(base, status_detail=text, model_override=text or None)
                _assert_clean("".join(str(cell[0]) for cell in fleet.cells(view)
                                      if isinstance(cell[0], str)))
                app.notify(text, title=text)
                _assert_clean(toasts[-1].message + toasts[-1].title)

        fleet_and_toasts()
        app.post_message = post  # type: ignore[method-assign]
        await open_view(app, OpenAgent(base.name))
        await pilot.pause()
        info = app.screen.query_one(AgentInfoPanel)
        messages = app.screen.query_one(MessageLog)
        logs = app.screen.query_one(LogPane)

        @PROPERTY
        @given(st.binary(max_size=120))
        def agent_views(raw: bytes) -> None:
            for text in _decoded(raw):
                view = replace(base, status_detail=text, model_override=text or None)
                _assert_clean(_text_of(console, info._table(view)))
                message = BusMessage(1, "alice", "boss", "peer", text, 0.0)
                _assert_clean(_text_of(console, messages._line(message)))
                logs._incoming.append(text)  # as a followed log line arrives
                logs._flush()
                _assert_clean("".join(strip.text for strip in logs.view.lines[-1:]))

        agent_views()
        await open_view(app, Navigate("approvals"))
        diff = app.screen.query_one(DiffView)
        queue = app.screen.query_one(ApprovalQueue)
        approval = queue.approvals[0]

        @PROPERTY
        @given(st.binary(max_size=120))
        def approvals_and_questions(raw: bytes) -> None:
            for text in _decoded(raw):
                odd = replace(approval, agent=text, requested_by=text, detail=text)
                _assert_clean("".join(str(c) for c in queue._cells(odd, 0.0)))
                _assert_clean("".join(detail_lines(text)) + detail_lines_json(text))
                _assert_clean(headline(text))
                line = text.replace("\n", "")  # git ends a diff line at \n, nowhere else
                diff.set_diff(f"@@ -1 +1 @@\n-{line}\n+{line}\n")
                assert [d.kind for d in diff.lines] == ["hunk", "del", "add"]
                for y in range(3):
                    _assert_clean(diff.render_line(y).text)

        approvals_and_questions()
