"""A turn of the REAL Claude Code CLI (against the FAKE Messages API) through the harness and
a real hive: its transcript reaches the core while the turn runs, cut where it is large, and
ends with the CLI's tokens and cost."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.hive import Hive
from hivetui.core.transcript_format import RESULT_KEEP_CHARS
from tests.e2e.test_real_claude import _harness, claude_bin, fake_api  # noqa: F401
from tests.fakes.anthropic_api import Reply, text, tool_results
from tests.harness_util import make_agent

pytestmark = pytest.mark.slow

COMMAND = "sleep 1; seq 1 3000"  # the sleep: time for the call to reach the core


async def test_a_real_tool_use_turn_streams_its_transcript(
        hive: Hive, bridge: Bridge, claude_bin: str,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    run, state = await make_agent(hive, bridge, "alice", "claude")
    agent_json = json.loads((run / "agent.json").read_text())
    agent_json["settings"]["allowed_tools"] = ["Bash"]
    (run / "agent.json").write_text(json.dumps(agent_json))
    seen: list[str] = []
    seen_when_answered: list[str] = []
    follow = hive.transcripts.follow("alice")
    await anext(follow)

    async def watch() -> None:
        async for batch in follow:
            seen.extend(e["kind"] for e in batch["events"])

    def model(request: dict[str, Any]) -> Reply:
        if tool_results(request):
            # the CLI waits on this answer: the turn is still running
            seen_when_answered.extend(seen)
            return text("Counted.")
        return Reply(blocks=({"type": "text", "text": "Counting."},
                             {"type": "tool_use", "name": "Bash",
                              "input": {"command": COMMAND}}))

    watcher = asyncio.create_task(watch())
    async with fake_api(monkeypatch, model):
        await hive.bus.send("operator", "alice", "count to 3000")
        assert await _harness(run, state, claude_bin, 1) == 0
    await asyncio.sleep(0.5)
    watcher.cancel()
    turn = await hive.transcripts.turn("alice")
    kinds = [e["kind"] for e in turn["events"]]
    assert kinds == ["prompt", "text", "tool_call", "tool_result", "text", "end"]
    assert seen == kinds
    assert seen_when_answered[:3] == ["prompt", "text", "tool_call"]  # live, not at the end
    result = turn["events"][3]
    assert result["truncated"] and len(result["text"]) == RESULT_KEEP_CHARS
    assert result["size"] == len("\n".join(str(i) for i in range(1, 3001)))
    header = turn["turn"]
    assert header["outcome"] == "ok" and header["cost_usd"] > 0
    assert header["tokens_in"] > 0 and header["tokens_out"] > 0
