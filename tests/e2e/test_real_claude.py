"""The harness with the REAL Claude Code CLI (npm ``@anthropic-ai/claude-code``, installed by
``scripts/test`` into ``.cache/claude``) against a FAKE Messages API on loopback
(``tests/fakes/anthropic_api.py``), through a real hive and bridge.

The fake only decides what "the model" answers; the CLI, its MCP client and its error
handling are the real ones. ``CLAUDE_CODE_MAX_RETRIES=0``: the CLI's own retries (about 11
over ~175 s on 500/529) would only make the failure tests slow.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.events import MessageDead, Notification, TurnFailed
from hivetui.core.hive import Hive
from hivetui.core.tool_surface import HARNESS_TOOLS
from hivetui.harness.main import run_harness
from tests.fakes.anthropic_api import (
    FakeMessagesApi,
    Reply,
    Responder,
    error,
    prompt_text,
    serve_fake_api,
    text,
    tool_results,
    tool_use,
)
from tests.harness_util import make_agent, operator_inbox

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
INSTALLED = REPO / ".cache" / "claude" / "node_modules" / ".bin" / "claude"
ASKED = "claude-opus-4-1"


@pytest.fixture
def claude_bin() -> str:
    path = Path(os.environ.get("HIVETUI_TEST_CLAUDE_BIN") or INSTALLED)
    if not os.access(path, os.X_OK):
        pytest.skip(f"the real Claude Code CLI is not installed at {path}: scripts/test "
                    "installs it with npm (is npm on PATH?)")
    return str(path)


@asynccontextmanager
async def fake_api(monkeypatch: pytest.MonkeyPatch, responder: Responder
                   ) -> AsyncIterator[FakeMessagesApi]:
    async with serve_fake_api(responder) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-test-key")
        monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")
        monkeypatch.setenv("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        yield api


def answering(request: dict[str, Any]) -> Reply:
    """A model that answers every prompt to the operator, then ends its turn."""
    if tool_results(request):
        return text("Answered.")
    return tool_use("mcp__hive__send", to="operator",
                    body="got: " + prompt_text(request).split("]\n", 1)[-1].split("\n")[0])


async def _harness(run: Path, state: Path, claude_bin: str, turns: int,
                   turn_timeout_s: float = 60.0) -> int:
    return await asyncio.wait_for(run_harness(
        run, state, recv_wait_s=3, max_turns=turns, claude_bin=claude_bin,
        turn_timeout_s=turn_timeout_s), 60 + turns * turn_timeout_s)


async def test_round_trip_and_the_model_that_ran(
        hive: Hive, bridge: Bridge, claude_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run, state = await make_agent(hive, bridge, "alice", "claude", model=ASKED)
    async with fake_api(monkeypatch, answering) as api:
        sent = await hive.bus.send("operator", "alice", "hello alice")
        assert await _harness(run, state, claude_bin, 1) == 0
    assert ("alice", "got: hello alice") in await operator_inbox(hive)
    assert hive.bus.depth("alice") == 0 and not await hive.bus.dead("alice")
    [stored] = [m for m in await hive.bus.history("alice") if m.id == sent.id]
    assert stored.delivered_at is not None and stored.attempts == 1
    # the model the CLI really ran (its init event; the requests name it too) is shown
    # beside the one asked for whenever the two differ
    ran = api.requests[0]["model"]
    detail = hive.registry.get("alice").status_detail
    assert detail.startswith("last turn ok in")
    if ran != ASKED:
        assert f"model {ran} (asked {ASKED})" in detail
    else:
        assert "asked" not in detail


async def test_the_model_sees_only_its_tools_and_recv_is_refused(
        hive: Hive, bridge: Bridge, claude_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run, state = await make_agent(hive, bridge, "alice", "claude")
    agent_json = json.loads((run / "agent.json").read_text())
    (run / "agent.json").write_text(json.dumps(
        {**agent_json, "harness": {**agent_json["harness"], "recv_max": 1}}))

    def model(request: dict[str, Any]) -> Reply:
        if tool_results(request):
            return text("Done.")
        if "first message" in prompt_text(request, last=True):
            return tool_use("mcp__hive__recv", wait_s=0, max=20)  # taking what is not its own
        return text("Nothing to do.")

    async with fake_api(monkeypatch, model) as api:
        await hive.bus.send("operator", "alice", "first message")
        second = await hive.bus.send("operator", "alice", "second message")
        assert await _harness(run, state, claude_bin, 2) == 0
    offered = {t["name"] for t in api.requests[0]["tools"] if t["name"].startswith("mcp__")}
    assert offered == {"mcp__hive__send"}  # a worker's model: send, and nothing of the harness
    [result] = [r for req in api.requests for r in tool_results(req)]
    assert result["is_error"] is True, result
    # the refused call took nothing: the second message went to the next turn, as its own
    turn_two = [r for r in api.requests if "second message" in prompt_text(r, last=True)
                and "first message" not in prompt_text(r, last=True)]
    assert turn_two, [prompt_text(r)[-200:] for r in api.requests]
    [stored] = [m for m in await hive.bus.history("alice") if m.id == second.id]
    assert stored.attempts == 1 and stored.delivered_at is not None
    assert not set(HARNESS_TOOLS) & {n.removeprefix("mcp__hive__") for n in offered}


HANG_TIMEOUT_S = 6.0
FAILURES = {
    "500": (error(500, "Internal server error"), "API Error: 500 Internal server error"),
    "529": (error(529, "Overloaded"), "API Error: 529 Overloaded"),
    "401": (error(401, "invalid x-api-key"), "Invalid API key"),
    "hang": (Reply(hang=True), f"turn timed out after {HANG_TIMEOUT_S:g}s; runtime killed"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
async def test_failed_turns_deliver_again_then_set_the_message_aside(
        hive: Hive, bridge: Bridge, claude_bin: str, monkeypatch: pytest.MonkeyPatch,
        failure: str) -> None:
    reply, words = FAILURES[failure]
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    run, state = await make_agent(hive, bridge, "alice", "claude")
    events = hive.hub.subscribe()
    async with fake_api(monkeypatch, lambda request: reply) as api:
        sent = await hive.bus.send("operator", "alice", "please answer")
        assert await _harness(run, state, claude_bin, 3,
                              turn_timeout_s=HANG_TIMEOUT_S if failure == "hang" else 60.0) == 0
    # every turn (harness.max_attempts = 3) was given the message again; a turn killed by
    # the timeout may not have reached the API yet (a slow start on a loaded machine)
    asked = len([r for r in api.requests if "please answer" in prompt_text(r)])
    assert asked == 3 or (failure == "hang" and 1 <= asked <= 3), asked
    [dead] = await hive.bus.dead("alice")
    assert dead.id == sent.id and dead.attempts == 3 and words in dead.last_failure
    assert hive.bus.depth("alice") == 0
    # the operator: the reason in the CLI's own words, a toast; the manager: an event
    detail = hive.registry.get("alice").status_detail
    assert detail.startswith(words) and "(last turn failed after" in detail
    assert "(exit 1" not in detail
    seen = []
    while not events._queue.empty():
        seen.append(await events.get())
    assert [e.reason for e in seen if isinstance(e, TurnFailed)] and all(
        words in e.reason for e in seen if isinstance(e, TurnFailed))
    assert any(isinstance(e, Notification) and f"#{sent.id}" in e.title for e in seen)
    assert any(isinstance(e, MessageDead) and e.message_id == sent.id for e in seen)
    [event] = [json.loads(m.body) for m in await hive.bus.history("boss")
               if m.recipient == "boss"]
    assert event["event"] == "message_dead" and event["message_id"] == sent.id
    assert words in event["last_failure"]


async def test_a_failed_turn_leaves_the_message_for_the_next_one(
        hive: Hive, bridge: Bridge, claude_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run, state = await make_agent(hive, bridge, "alice", "claude")
    turns: list[str] = []

    def overloaded_once(request: dict[str, Any]) -> Reply:
        if not tool_results(request):
            turns.append(prompt_text(request))
            if len(turns) == 1:
                return error(529, "Overloaded")
        return answering(request)

    async with fake_api(monkeypatch, overloaded_once):
        sent = await hive.bus.send("operator", "alice", "hello again")
        assert await _harness(run, state, claude_bin, 2) == 0
    assert len(turns) == 2 and all("hello again" in t for t in turns)
    assert ("alice", "got: hello again") in await operator_inbox(hive)
    [stored] = [m for m in await hive.bus.history("alice") if m.id == sent.id]
    assert stored.attempts == 2 and stored.delivered_at is not None
    assert "API Error: 529" in stored.last_failure
    assert not await hive.bus.dead("alice")


async def test_no_credential_is_shown_in_the_clis_words(
        hive: Hive, bridge: Bridge, claude_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run, state = await make_agent(hive, bridge, "alice", "claude")
    async with fake_api(monkeypatch, answering) as api:
        for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        sent = await hive.bus.send("operator", "alice", "anyone there?")
        assert await _harness(run, state, claude_bin, 1) == 0
    assert not api.requests
    detail = hive.registry.get("alice").status_detail
    assert detail.startswith("Not logged in"), detail
    [stored] = [m for m in await hive.bus.history("alice") if m.id == sent.id]
    assert stored.delivered_at is None and stored.attempts == 1  # waits for the next turn
    assert stored.last_failure.startswith("Not logged in")
