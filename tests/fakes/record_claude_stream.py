"""Record the REAL Claude Code CLI's stream-json into test fixtures.

    .venv/bin/python -m tests.fakes.record_claude_stream [--claude PATH] [--out DIR]

Runs ``claude -p --output-format stream-json --verbose`` (the CLI ``scripts/test`` installs
into ``.cache/claude``) against the FAKE Messages API of ``tests/fakes/anthropic_api.py``,
once per scenario, and writes what it printed, line by line, to
``tests/fixtures/claude_stream/<scenario>.jsonl`` (the temporary directory's path is
replaced by ``/tmp/REC``). The fake only decides what "the model" answers; every line is
the CLI's own. Scenarios:

- ``tool_use``: text and a Bash call whose output (~9 KB) is larger than a transcript keeps,
  then a closing text;
- ``api_error``: the API answers 500 (the CLI's retries off): an error ``result``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.anthropic_api import Reply, error, serve_fake_api, text, tool_results

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "claude_stream"
CLAUDE = REPO / ".cache" / "claude" / "node_modules" / ".bin" / "claude"
BASH_COMMAND = "printf 'hello from bash\\n'; seq 1 2000"


def tool_turn(request: dict[str, Any]) -> Reply:
    if tool_results(request):
        return text("Done: bash said hello and counted to 2000.")
    return Reply(blocks=({"type": "text", "text": "Let me run it."},
                         {"type": "tool_use", "name": "Bash",
                          "input": {"command": BASH_COMMAND, "description": "say hello"}}))


def api_error(request: dict[str, Any]) -> Reply:
    return error(500, "Internal server error")


SCENARIOS: dict[str, Callable[[dict[str, Any]], Reply]] = {
    "tool_use": tool_turn, "api_error": api_error}


async def record(name: str, claude: Path, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CLAUDE_CONFIG_DIR": f"{tmp}/config", "DISABLE_AUTOUPDATER": "1",
               "ANTHROPIC_API_KEY": "sk-ant-fake-test-key", "CLAUDE_CODE_MAX_RETRIES": "0",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        async with serve_fake_api(SCENARIOS[name]) as api:
            env["ANTHROPIC_BASE_URL"] = api.url
            proc = await asyncio.create_subprocess_exec(
                str(claude), "-p", "--output-format", "stream-json", "--verbose",
                "--model", "claude-sonnet-4-5", "--strict-mcp-config", "--mcp-config",
                '{"mcpServers": {}}', "--allowedTools", "Bash", cwd=tmp, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            stdout, _ = await asyncio.wait_for(proc.communicate(b"run the hello command\n"),
                                               120)
        lines = stdout.decode().replace(tmp, "/tmp/REC").splitlines()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.jsonl"
    path.write_text("\n".join(line for line in lines if line.strip()) + "\n")
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claude", type=Path, default=CLAUDE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    for name in SCENARIOS:
        print(await record(name, args.claude, args.out))


if __name__ == "__main__":
    asyncio.run(main())
