"""The `:` command line and the compose box's slash commands: pure parsing."""

from __future__ import annotations

import pytest

from hivetui.tui.commands import (
    AgentAction,
    CommandError,
    Navigate,
    OpenAgent,
    Quit,
    Send,
    SendText,
    SetModel,
    Spawn,
    parse_command,
    parse_compose,
    suggestions,
)


@pytest.mark.parametrize(("text", "expected"), [
    (":agents", Navigate("agents")),
    ("agents", Navigate("agents")),
    (":fleet", Navigate("agents")),
    (":approvals", Navigate("approvals")),
    (":ap", Navigate("approvals")),
    (":questions", Navigate("questions")),
    (":kept", Navigate("kept")),
    (":help", Navigate("help")),
    (":q", Quit()),
    (":model alice claude-opus-4-1", SetModel("alice", "claude-opus-4-1")),
    (":model alice opus --persist", SetModel("alice", "opus", persist=True)),
    (":spawn bob", Spawn("bob")),
    (":spawn bob scripted:echo --manager", Spawn("bob", "scripted:echo", manager=True)),
    (":send alice hello   there, \"friend\"", Send("alice", 'hello   there, "friend"')),
    (":stop alice", AgentAction("stop", "alice")),
    (":destroy w-1", AgentAction("destroy", "w-1")),
    (":open alice", OpenAgent("alice")),
    (":open alice logs", OpenAgent("alice", "logs")),
    (":logs alice", OpenAgent("alice", "logs")),
    ("  :STOP   alice ", AgentAction("stop", "alice")),
])
def test_parse_command(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "needle"), [
    (":frobnicate", "unknown command :frobnicate"),
    (":", "empty command"),
    (":model alice", "usage :model NAME MODEL"),
    (":model Alice opus", "invalid agent name 'Alice'"),
    (":stop", "usage :stop NAME"),
    (":stop a b", "usage :stop NAME"),
    (":agents now", "takes no arguments"),
    (":send alice", "usage :send NAME TEXT"),
    (":model alice opus --force", "unknown option --force"),
    (":open alice inbox", "unknown tab 'inbox'"),
    (":spawn 'bob", "close the quote"),
    (":model alice " + "x" * 101, "at most 100"),
])
def test_parse_command_errors_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(text)
    assert needle in info.value.message
    assert "\n" not in info.value.message


def test_compose_text_and_slash_model() -> None:
    assert parse_compose("hello", "alice") == SendText("hello")
    assert parse_compose("/model opus", "alice") == SetModel("alice", "opus")
    assert parse_compose("/model opus --persist", "bob") == SetModel("bob", "opus", True)
    assert parse_compose("//model is a word", "alice") == SendText("/model is a word")


@pytest.mark.parametrize(("text", "needle"), [
    ("", "nothing to send"),
    ("/mdoel opus", "unknown slash command /mdoel"),
    ("/model", "usage /model MODEL"),
    ("/model a b", "usage /model MODEL"),
])
def test_compose_errors(text: str, needle: str) -> None:
    with pytest.raises(CommandError, match=needle):
        parse_compose(text, "alice")


def test_suggestions_cover_verbs_and_agents() -> None:
    out = suggestions(["alice"])
    assert ":approvals" in out
    assert ":model alice" in out
    assert ":stop alice" in out
