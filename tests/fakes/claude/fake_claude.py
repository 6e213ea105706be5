#!/usr/bin/env python3
"""A fake ``claude`` CLI for tests: records each call, replays scripted stream-json steps.

It follows the documented contract of ``claude -p`` (reference.md) where the harness relies
on it:
- ``--output-format stream-json`` with ``-p`` requires ``--verbose`` (else error, exit 1);
- the prompt comes on stdin; ``--mcp-config`` is JSON (or a JSON file) with ``mcpServers``;
- ``--continue`` with no earlier conversation in this cwd fails ("No conversation found
  to continue", exit 1); each run without it starts a new session in its cwd.

Environment: ``FAKE_CLAUDE_DIR`` (required) holds ``script.json`` — a list of steps, one per
invocation in order — and receives ``calls.jsonl`` (argv, stdin, cwd per call) and
``sessions.json``. A step: ``{"events": [...], "exit": 0, "stderr": "", "hang": false,
"child": false}``; ``"$SESSION"`` in events is replaced by the session id; ``hang`` sleeps
forever after the events (``child`` first starts a grandchild ``sleep`` and records both pids
in ``pids``). When the step's ``mcp`` is true the fake makes the hive ``send`` calls of its
``tool_use`` events for real against the ``--mcp-config`` hive server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def parse(argv: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {"print": False, "verbose": False, "continue": False,
                            "allowed": [], "strict": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-p", "--print"):
            opts["print"] = True
        elif arg == "--verbose":
            opts["verbose"] = True
        elif arg in ("-c", "--continue"):
            opts["continue"] = True
        elif arg == "--strict-mcp-config":
            opts["strict"] = True
        elif arg in ("--output-format", "--model", "--mcp-config", "--append-system-prompt"):
            if i + 1 >= len(argv):
                fail(f"error: option '{arg}' argument missing")
            opts[arg.lstrip("-")] = argv[i + 1]
            i += 1
        elif arg == "--allowedTools":  # variadic, like the real CLI's commander option
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                opts["allowed"].append(argv[i + 1])
                i += 1
        else:
            fail(f"error: unknown option '{arg}'")
        i += 1
    return opts


def call_hive(config: dict[str, Any], tool: str, args: dict[str, Any]) -> None:
    """Make one real MCP call to the hive server named in --mcp-config."""
    import asyncio

    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    hive = config["mcpServers"]["hive"]

    async def go() -> None:
        async with httpx2.AsyncClient(headers=hive.get("headers", {})) as http, \
                Client(streamable_http_client(hive["url"], http_client=http)) as client:
            result = await client.call_tool(tool, args)
            if result.is_error:
                fail(f"hive {tool} failed: {result.content}")

    asyncio.run(go())


def main() -> None:
    root = Path(os.environ["FAKE_CLAUDE_DIR"])
    argv = sys.argv[1:]
    stdin = sys.stdin.read()
    calls = root / "calls.jsonl"
    with calls.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"argv": argv, "stdin": stdin, "cwd": os.getcwd(),
                             "config_dir": os.environ.get("CLAUDE_CONFIG_DIR")}) + "\n")
    index = len(calls.read_text(encoding="utf-8").splitlines()) - 1
    opts = parse(argv)
    if opts["print"] and opts.get("output-format") == "stream-json" and not opts["verbose"]:
        fail("Error: When using --print, --output-format=stream-json requires --verbose")
    config: dict[str, Any] = {}
    if "mcp-config" in opts:
        try:
            raw = opts["mcp-config"]
            # like the real CLI: a JSON string or the path of a JSON file
            if not raw.lstrip().startswith("{") and os.path.isfile(raw):
                with open(raw, encoding="utf-8") as fh:
                    raw = fh.read()
            config = json.loads(raw)
        except json.JSONDecodeError:
            fail(f"Error: Invalid MCP configuration: {opts['mcp-config'][:80]}")
        if not isinstance(config.get("mcpServers"), dict):
            fail("Error: Invalid MCP configuration: mcpServers must be an object")
    sessions_file = root / "sessions.json"
    sessions = json.loads(sessions_file.read_text()) if sessions_file.exists() else {}
    if opts["continue"]:
        session = sessions.get(os.getcwd())
        if session is None:
            fail("No conversation found to continue")
    else:
        session = str(uuid.uuid4())
        sessions[os.getcwd()] = session
        sessions_file.write_text(json.dumps(sessions))

    steps = json.loads((root / "script.json").read_text(encoding="utf-8"))
    if index >= len(steps):
        fail(f"fake claude: no scripted step for call {index + 1}", 99)
    step = steps[index]
    for event in step.get("events", []):
        text = json.dumps(event).replace("$SESSION", session)
        if step.get("mcp") and event.get("type") == "assistant":
            for block in event["message"]["content"]:
                if block.get("type") == "tool_use" and block["name"].startswith("mcp__hive__"):
                    call_hive(config, block["name"].removeprefix("mcp__hive__"),
                              block["input"])
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        time.sleep(step.get("delay_s", 0))
    if step.get("stderr"):
        print(step["stderr"], file=sys.stderr)
    if step.get("hang"):
        pids = [os.getpid()]
        if step.get("child"):
            pids.append(subprocess.Popen(["sleep", "600"]).pid)
        (root / "pids").write_text(" ".join(map(str, pids)))
        time.sleep(600)
    sys.exit(step.get("exit", 0))


if __name__ == "__main__":
    main()
