"""Stream-json event sequences shaped like the real ``claude -p --verbose`` output (2.1.x)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FAKE = Path(__file__).with_name("fake_claude.py")
MODEL = "claude-sonnet-4-5"


def init(servers: dict[str, str] | None = None, tools: Iterable[str] = ()) -> dict[str, Any]:
    servers = {"hive": "connected"} if servers is None else servers
    return {
        "type": "system", "subtype": "init", "cwd": "/state", "session_id": "$SESSION",
        "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", *tools],
        "mcp_servers": [{"name": n, "status": s} for n, s in servers.items()],
        "model": MODEL, "permissionMode": "default", "slash_commands": ["compact", "context"],
        "apiKeySource": "ANTHROPIC_API_KEY", "claude_code_version": "2.1.3",
        "output_style": "default", "agents": [], "skills": [], "plugins": [],
        "uuid": "0b8c1c0e-0000-4000-8000-000000000001",
    }


def _usage(inp: int = 1200, out: int = 80) -> dict[str, Any]:
    return {"input_tokens": inp, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 9000, "output_tokens": out,
            "service_tier": "standard"}


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "assistant", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "model": MODEL,
        "content": list(blocks), "stop_reason": None, "stop_sequence": None,
        "usage": _usage()}, "parent_tool_use_id": None, "session_id": "$SESSION",
        "uuid": "0b8c1c0e-0000-4000-8000-000000000002"}


def tool_use(uid: str, name: str, **inp: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": uid, "name": name, "input": inp}


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def tool_result(uid: str, content: str, is_error: bool = False) -> dict[str, Any]:
    return {"type": "user", "message": {"role": "user", "content": [
        {"tool_use_id": uid, "type": "tool_result", "content": content, "is_error": is_error}]},
        "parent_tool_use_id": None, "session_id": "$SESSION",
        "uuid": "0b8c1c0e-0000-4000-8000-000000000003"}


def result(*, subtype: str = "success", is_error: bool = False, text_: str = "Done.",
           cost: float = 0.0123, duration_ms: int = 4321, num_turns: int = 3,
           denials: list[dict[str, Any]] | None = None,
           terminal_reason: str | None = "completed") -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "result", "subtype": subtype, "is_error": is_error,
        "duration_ms": duration_ms, "duration_api_ms": duration_ms - 400,
        "num_turns": num_turns, "result": text_, "session_id": "$SESSION",
        "total_cost_usd": cost, "usage": _usage(),
        "modelUsage": {MODEL: {"inputTokens": 1200, "outputTokens": 80,
                               "cacheReadInputTokens": 9000, "cacheCreationInputTokens": 0,
                               "webSearchRequests": 0, "costUSD": cost,
                               "contextWindow": 200000}},
        "permission_denials": denials or [], "uuid": "0b8c1c0e-0000-4000-8000-000000000004",
    }
    if terminal_reason is not None:
        event["terminal_reason"] = terminal_reason
    return event


# --- whole runs (one step = one claude invocation) -------------------------------------
def success_with_tools(reply_to: str = "operator") -> dict[str, Any]:
    denied = {"tool_name": "Bash", "tool_use_id": "toolu_04",
              "tool_input": {"command": "rm -rf /tmp/x", "description": "clean"}}
    return {"events": [
        init(),
        assistant(text("Looking."), tool_use("toolu_01", "Bash", command="git status",
                                              description="status")),
        tool_result("toolu_01", "On branch main"),
        assistant(tool_use("toolu_02", "Read", file_path="/state/notes.md")),
        tool_result("toolu_02", "# notes"),
        assistant(tool_use("toolu_03", "Bash", command="git log -1")),
        tool_result("toolu_03", "abc123 init"),
        assistant(tool_use("toolu_04", "Bash", command="rm -rf /tmp/x", description="clean")),
        tool_result("toolu_04", "Claude requested permissions to use Bash, but you haven't "
                                "granted it yet.", is_error=True),
        assistant(tool_use("toolu_05", "mcp__hive__send", to=reply_to, body="done: clean")),
        tool_result("toolu_05", '{"id": 7, "depth": 1}'),
        result(cost=0.0421, duration_ms=5123, num_turns=6, denials=[denied]),
    ], "exit": 0}


def api_error() -> dict[str, Any]:
    msg = ('API Error: 500 {"type":"error","error":{"type":"api_error",'
           '"message":"Internal server error"}}')
    return {"events": [init(), assistant(text(msg)),
                       result(is_error=True, text_=msg, cost=0.0, duration_ms=812,
                              num_turns=1)], "exit": 1}


def prompt_too_long() -> dict[str, Any]:
    return {"events": [init(), assistant(text("Prompt is too long")),
                       result(is_error=True, text_="Prompt is too long", cost=0.0,
                              duration_ms=300, num_turns=1,
                              terminal_reason="prompt_too_long")], "exit": 1}


def compact_ok() -> dict[str, Any]:
    return {"events": [
        init(),
        {"type": "system", "subtype": "status", "status": "compacting",
         "session_id": "$SESSION", "uuid": "0b8c1c0e-0000-4000-8000-000000000005"},
        {"type": "system", "subtype": "compact_boundary", "session_id": "$SESSION",
         "compact_metadata": {"trigger": "manual", "pre_tokens": 191000},
         "uuid": "0b8c1c0e-0000-4000-8000-000000000006"},
        result(text_="", cost=0.02, duration_ms=9000, num_turns=1),
    ], "exit": 0}


def simple_ok(cost: float = 0.001, reply: tuple[str, str] | None = None,
              mcp: bool = False) -> dict[str, Any]:
    events = [init()]
    if reply:
        events += [assistant(tool_use("toolu_09", "mcp__hive__send", to=reply[0],
                                      body=reply[1])),
                   tool_result("toolu_09", '{"id": 1, "depth": 1}')]
    events.append(result(cost=cost, duration_ms=1000, num_turns=1))
    return {"events": events, "exit": 0, "mcp": mcp}


def mcp_failed(server: str = "hive") -> dict[str, Any]:
    servers = {"hive": "connected", server: "failed"}
    return {"events": [init(servers), assistant(text("I cannot reach the hive.")),
                       result(cost=0.003, duration_ms=700, num_turns=1)], "exit": 0}


def notes_rewrite(new_notes: str) -> dict[str, Any]:
    return {"events": [init({}), assistant(text(new_notes)),
                       result(text_=new_notes, cost=0.002, duration_ms=900, num_turns=1)],
            "exit": 0}


def hang(child: bool = True) -> dict[str, Any]:
    return {"events": [init()], "hang": True, "child": child}


# --- plumbing ------------------------------------------------------------------------------
def stub_claude(directory: Path) -> str:
    """A FAKE ``claude`` program for hives whose backend never runs it: the core only needs
    to find one to spawn a claude agent ([claude] bin)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "claude"
    path.write_text("#!/bin/sh\necho 'a stub: not the Claude Code CLI' >&2\nexit 1\n")
    path.chmod(0o755)
    return str(path)


class FakeClaude:
    """A scripted fake ``claude`` in a directory; ``calls()`` reads what it was run with."""

    def __init__(self, root: Path, steps: list[dict[str, Any]]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "script.json").write_text(json.dumps(steps))
        self.bin = root / "claude"
        self.bin.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE} \"$@\"\n")
        self.bin.chmod(0o755)
        self.env = {**os.environ, "FAKE_CLAUDE_DIR": str(root)}

    def calls(self) -> list[dict[str, Any]]:
        path = self.root / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def pids(self) -> list[int]:
        return [int(p) for p in (self.root / "pids").read_text().split()]
