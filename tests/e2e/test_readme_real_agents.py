"""README "Running real agents", step by step as a user runs it: the real `hivetui serve` and
`hivetui ctl` commands, the REAL Claude Code CLI on the core's PATH (what `npm install -g`
gives; scripts/test installs it into .cache/claude), the key only in serve's environment,
and a FAKE Messages API (tests/fakes/anthropic_api.py, accepting only that key) standing in
for api.anthropic.com through `[anthropic] base_url`. The manager's part of the budget step
(`request_apply_commit`) is its real MCP call, made here with the manager's token."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_real_claude import answering
from tests.fakes.anthropic_api import serve_fake_api
from tests.mcp_util import agent_client
from tests.serve_util import serve, stderr_tail, stop, wait_serving

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
INSTALLED = REPO / ".cache" / "claude" / "node_modules" / ".bin" / "claude"
KEY = "sk-ant-api03-readme-walkthrough"
#: the README's commands, verbatim (the test below runs each of them)
STEPS = ("npm install -g @anthropic-ai/claude-code", "export ANTHROPIC_API_KEY=",
         "hivetui serve &", "hivetui ctl spawn alice --runtime claude",
         'hivetui ctl send alice "hello"', "hivetui ctl inbox alice",
         "cd ~/.local/state/hivetui/agents/alice/config",
         "echo 'budget_usd_per_day = 5.0' >> settings.toml",
         'git commit -qam "alice: 5 USD a day"', "hivetui ctl approvals",
         "hivetui ctl approve 1", "claude setup-token",
         'network.allow = ["github.com:443"]')


def _section() -> str:
    text = (REPO / "README.md").read_text("utf-8")
    start = text.index("### Running real agents")
    return text[start:text.index("\n## ", start)]


def test_the_readme_gives_these_steps() -> None:
    section = _section()
    assert [s for s in STEPS if s not in section] == []


@pytest.fixture
def claude_bin() -> str:
    path = Path(os.environ.get("HIVETUI_TEST_CLAUDE_BIN") or INSTALLED)
    if not os.access(path, os.X_OK):
        pytest.skip(f"the real Claude Code CLI is not installed at {path}: scripts/test "
                    "installs it with npm (is npm on PATH?)")
    return str(path)


async def test_running_real_agents_as_the_readme_says(tmp_path: Path, claude_bin: str) -> None:
    state = tmp_path / "state"
    home = tmp_path / "home"
    config = tmp_path / "noconfig" / "hivetui" / "config.toml"  # serve's XDG config
    config.parent.mkdir(parents=True)
    path = f"{Path(claude_bin).parent}{os.pathsep}{os.environ['PATH']}"  # npm install -g
    user = {**os.environ, "PATH": path, "HOME": str(home),
            "XDG_CONFIG_HOME": str(config.parents[1]), "XDG_STATE_HOME": str(tmp_path)}
    user.pop("ANTHROPIC_API_KEY", None)

    def ctl(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hivetui", "ctl", "--state-dir",
                               str(state), *args], capture_output=True, text=True, env=user,
                              timeout=120)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    async with serve_fake_api(answering, KEY) as api:
        config.write_text(f'[anthropic]\nbase_url = "{api.url}"\n')
        proc = serve(state, {"PATH": path, "ANTHROPIC_API_KEY": KEY})  # step 2
        try:
            bridge = await wait_serving(proc, state)
            ctl("spawn", "alice", "--runtime", "claude")  # step 3
            ctl("send", "alice", "hello")
            for _ in range(600):
                if "got: hello" in ctl("inbox", "alice"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"alice never answered: {stderr_tail(state)}")
            assert api.headers and all(h["x-api-key"] == KEY for h in api.headers)
            # step 4: a budget, committed in alice's proposed repo (the README's `cd` there)
            repo = state / "agents" / "alice" / "config"
            assert repo == tmp_path / "state" / "agents" / "alice" / "config"
            git = {**user, "GIT_AUTHOR_NAME": "op", "GIT_AUTHOR_EMAIL": "op@example.org",
                   "GIT_COMMITTER_NAME": "op", "GIT_COMMITTER_EMAIL": "op@example.org"}
            subprocess.run("echo 'budget_usd_per_day = 5.0' >> settings.toml && "
                           'git commit -qam "alice: 5 USD a day"',
                           shell=True, cwd=repo, env=git, check=True, capture_output=True)
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, env=git, check=True,
                                  capture_output=True, text=True).stdout.strip()
            ctl("spawn", "boss", "--runtime", "scripted:echo", "--manager")
            token = (state / "secrets" / "boss" / "token").read_text().strip()
            async with agent_client(bridge, token) as manager:
                await manager.call("request_apply_commit", agent="alice", commit=head)
            assert "alice" in ctl("approvals")
            ctl("approve", "1")
            for _ in range(600):
                [alice] = [a for a in json.loads(ctl("agents", "--json"))
                           if a["name"] == "alice"]
                if alice["budget_usd_per_day"] == 5.0:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the budget never applied: {alice}")
            assert alice["api_requests_today"] == len(api.requests) >= 1
            assert "API TODAY" in ctl("agents") and " of 5.00 USD" in ctl("agents")
        finally:
            for name in ("alice", "boss"):  # containers outlive the core: stop them
                subprocess.run([sys.executable, "-m", "hivetui", "ctl", "--state-dir",
                                str(state), "stop", name], env=user, capture_output=True,
                               timeout=60, check=False)
            assert stop(proc) == 0, stderr_tail(state)
