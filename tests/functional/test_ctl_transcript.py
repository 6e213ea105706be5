"""`hivetui ctl transcript`: the real ``ctl`` (a subprocess) against a real core (hive,
sqlite, control socket) holding alice's transcript; agent text is shown, never interpreted."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.control.server import ControlServer
from hivetui.core.hive import Hive
from hivetui.core.transcript_format import call_event, result_event
from tests.functional.test_ctl_visible import PAYLOAD, assert_clean

TURN_1 = [
    {"kind": "prompt", "text": "[message 1 from boss (manager) at x]\nfix the flaky test"},
    {"kind": "text", "text": "Looking at it. " + PAYLOAD},
    call_event("c1", "Bash", {"command": "git status"}, 0.0),
    result_event("c1", "```\n" + "x" * 9000, False, 0.0),
    {"kind": "end", "outcome": "ok", "duration_s": 3.0, "cost_usd": 0.0123,
     "tokens_in": 1204, "tokens_out": 310},
]


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Hive]:
    async with Hive(tmp_path / "state") as hive:
        server = ControlServer(hive)
        hive.add_service("control", server.run)
        await server.ready()
        await hive.registry.create("alice", runtime="scripted:echo", model="m")
        await hive.transcripts.ingest("alice", "k:1", TURN_1)
        await hive.transcripts.ingest("alice", "k:2", [{"kind": "prompt", "text": "second"}])
        await hive.transcripts.flush()
        yield hive


async def ctl(state: Path, *args: str, code: int = 0) -> tuple[str, str]:
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(state),
                         *args], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == code, out.stderr.decode()
    assert_clean(out.stdout)
    return out.stdout.decode(), out.stderr.decode()


async def test_plain_json_and_markdown(core: Hive) -> None:
    state = core.paths.root
    text, _ = await ctl(state, "transcript", "alice", "--turn", "1")
    lines = text.splitlines()
    assert lines[0].startswith("== turn 1 · ok · $0.0123 · 1,204 in / 310 out tokens")
    assert lines[1:4] == ["▶ prompt: boss: fix the flaky test",
                          # the compact line is the first line (a CR ends it too)
                          "  Looking at it. A␛]2;pwned␇B␛[31mred␛[0mC\\x9b31m\\x9d2;c1\\x9cD"
                          "visible",
                          "⚙ Bash: git status"]
    assert "(cut, 9004 chars in all)" in lines[4]
    newest, _ = await ctl(state, "transcript", "alice")
    assert newest.splitlines() == ["== turn 2 · running · started " +
                                   newest.split("started ", 1)[1].splitlines()[0],
                                   "▶ prompt: second"]
    raw, _ = await ctl(state, "transcript", "alice", "--turn", "1", "--json")
    objs = [json.loads(line) for line in raw.splitlines()]
    assert objs[0]["kind"] == "turn" and objs[0]["cost_usd"] == 0.0123
    assert [o["kind"] for o in objs[1:]] == ["prompt", "text", "tool_call", "tool_result",
                                             "end"]
    assert objs[2]["text"].endswith(PAYLOAD) and objs[4]["size"] == 9004
    md, _ = await ctl(state, "transcript", "alice", "--turn", "1", "--markdown")
    assert md.startswith("## alice · turn 1 · ok")
    assert "**Bash: git status**\n\n```\n$ git status\n```" in md
    assert "````\n```\nxxx" in md  # a result holding a fence gets a longer one
    _, err = await ctl(state, "transcript", "alice", "--turn", "7", code=1)
    assert "alice has no turn 7 in its transcripts (kept: 1 to 2)" in err
    _, err = await ctl(state, "transcript", "alice", "--json", "--markdown", code=2)
    assert "--json or --markdown, not both" in err


async def test_follow_prints_events_as_they_come(core: Hive) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(core.paths.root),
        "transcript", "alice", "--follow", stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        async def line() -> str:
            assert proc.stdout is not None
            return (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()

        assert (await line()).startswith("== turn 2 · running")
        assert await line() == "▶ prompt: second\n"
        await core.transcripts.ingest("alice", "k:2", [
            call_event("c9", "Bash", {"command": "pytest -q"}, 0.0)])
        assert await line() == "⚙ Bash: pytest -q\n"
        await core.transcripts.ingest("alice", "k:3", [{"kind": "prompt", "text": "third"}])
        assert (await line()).startswith("== turn 3")
    finally:
        proc.terminate()
        await proc.wait()
