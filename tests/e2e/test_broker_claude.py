"""The REAL Claude Code CLI (npm, installed by scripts/test into .cache/claude) reaching a
FAKE Messages API (tests/fakes/anthropic_api.py, which accepts only the operator's key)
through the core's credential broker: in a real local-backend container, and directly with
tokens the broker must refuse."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from hivetui.broker.credential import Credential
from hivetui.broker.server import Broker
from hivetui.core.config import HiveConfig
from hivetui.core.events import BudgetExhausted, Event, Notification, TurnFailed
from hivetui.core.forwards import inside_url
from hivetui.core.hive import Hive
from hivetui.core.settings import AgentSettings
from hivetui.core.spend import cost_usd
from hivetui.node import HiveNode
from tests.container_util import sh_in
from tests.e2e.test_real_claude import answering
from tests.fakes.anthropic_api import Reply, serve_fake_api, text
from tests.harness_util import operator_inbox, until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
INSTALLED = REPO / ".cache" / "claude" / "node_modules" / ".bin" / "claude"
OPERATOR_KEY = "sk-ant-api03-OPERATORSECRET"
MODEL = "claude-sonnet-4-5"


@pytest.fixture
def claude_bin() -> str:
    path = Path(os.environ.get("HIVETUI_TEST_CLAUDE_BIN") or INSTALLED)
    if not os.access(path, os.X_OK):
        pytest.skip(f"the real Claude Code CLI is not installed at {path}: scripts/test "
                    "installs it with npm (is npm on PATH?)")
    return str(path)


def _config(api_url: str, claude_bin: str) -> HiveConfig:
    config = HiveConfig()
    config.anthropic.base_url = api_url
    config.claude.bin = claude_bin
    config.harness.retry_backoff_s = 0.5
    return config


def _collect(node: HiveNode) -> tuple[list[Event], asyncio.Task[None]]:
    events: list[Event] = []
    sub = node.hive.hub.subscribe()

    async def collect() -> None:
        while True:
            events.append(await sub.get())

    return events, asyncio.create_task(collect())


#: every process of the container: its environment, one variable a line
ENVIRONS = "for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null; done"


async def test_an_agent_answers_through_the_broker_and_never_holds_the_key(
        tmp_path: Path, claude_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = asyncio.Event()

    def held_first(request: dict[str, Any]) -> Reply:
        reply = answering(request)
        return reply if gate.is_set() else Reply(blocks=reply.blocks, gate=gate)

    monkeypatch.setenv("ANTHROPIC_API_KEY", OPERATOR_KEY)  # the core's environment only
    async with serve_fake_api(held_first, OPERATOR_KEY) as api, \
            HiveNode(tmp_path / "state", _config(api.url, claude_bin)) as node:
        try:
            await node.hive.lifecycle.spawn("alice", runtime="claude", model=MODEL)  # type: ignore[union-attr]
            await node.hive.bus.send("operator", "alice", "hello alice")

            async def asked() -> bool:
                return bool(api.requests)

            await until(asked, 60)
            # claude's request is held open upstream: look at every process in the container
            seen = await sh_in(node, "alice", f"{ENVIRONS}; echo FILES; grep -rl "
                               f"{OPERATOR_KEY} /state /run/hive /tmp /etc 2>/dev/null")
            gate.set()
            token = (node.paths.agent_run("alice") / "token").read_text().strip()
            # the broker's fixed port inside the container's own network, forwarded to its socket
            assert f"ANTHROPIC_BASE_URL={inside_url('broker')}" in seen.splitlines()
            assert f"ANTHROPIC_AUTH_TOKEN={token}" in seen.splitlines()
            assert OPERATOR_KEY not in seen  # in no process's environment, in no file
            assert "ANTHROPIC_API_KEY" not in seen

            async def answered() -> bool:
                return ("alice", "got: hello alice") in await operator_inbox(node.hive) \
                    and node.hive.registry.get("alice").status_detail.startswith("last turn ok")

            await until(answered, 60)  # the turn's requests are all made
            assert all(h["x-api-key"] == OPERATOR_KEY for h in api.headers)
            assert all(token not in json.dumps(h) for h in api.headers)
            await until(lambda: _spent(node.hive, len(api.requests)), 10)
            await node.hive.telemetry.flush()
            series = await node.hive.telemetry.query("alice", 600)
            assert sum(v for _, v in series["api_requests"]) == len(api.requests) >= 2
            assert sum(v for _, v in series["api_output_tokens"]) == 30 * len(api.requests)
        finally:
            await node.stop_all()


async def _spent(hive: Hive, requests: int) -> bool:
    return (await hive.spend.today("alice")).requests >= requests


async def test_a_spent_budget_fails_the_turn_with_the_brokers_reason(
        tmp_path: Path, claude_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    one = cost_usd(MODEL, {"input_tokens": 120, "output_tokens": 30})
    monkeypatch.setenv("ANTHROPIC_API_KEY", OPERATOR_KEY)
    async with serve_fake_api(answering, OPERATOR_KEY) as api, \
            HiveNode(tmp_path / "state", _config(api.url, claude_bin)) as node:
        lifecycle = node.hive.lifecycle
        assert lifecycle is not None
        events, collector = _collect(node)
        try:
            await node.hive.registry.create("alice", runtime="claude", model=MODEL)
            await lifecycle.repos.ensure("alice", AgentSettings(
                runtime="claude", model=MODEL, budget_usd_per_day=one * 1.5))
            await lifecycle.build("alice")
            await lifecycle.start("alice")
            await node.hive.bus.send("operator", "alice", "first")  # two requests: spent

            async def told() -> bool:
                return any(isinstance(e, BudgetExhausted) for e in events)

            await until(told, 90)
            asked = len(api.requests)
            await node.hive.bus.send("operator", "alice", "second")

            async def failed() -> bool:
                return any(isinstance(e, TurnFailed) for e in events)

            await until(failed, 90)
            [reason, *_] = [e.reason for e in events if isinstance(e, TurnFailed)]
            assert "budget_usd_per_day" in reason and "is spent" in reason, reason
            assert len(api.requests) == asked  # the refused turn reached no API
            assert [e for e in events if isinstance(e, Notification)
                    and e.title == "alice: API budget spent"]

            async def dead() -> bool:  # every later attempt is refused alike
                return bool(await node.hive.bus.dead("alice"))

            await until(dead, 90)
            [letter] = await node.hive.bus.dead("alice")
            assert letter.body == "second" and "budget_usd_per_day" in letter.last_failure
            assert len(api.requests) == asked
        finally:
            collector.cancel()
            await node.stop_all()


@pytest.mark.parametrize("whose", ["unknown", "stopped"])
async def test_the_broker_refuses_a_token_that_is_not_a_running_agents(
        hive: Hive, claude_bin: str, tmp_path: Path, whose: str) -> None:
    async with serve_fake_api(lambda request: text("hello"), OPERATOR_KEY) as api:
        hive.config.anthropic.base_url = api.url
        broker = Broker(hive, credential=Credential("api_key", OPERATOR_KEY, "test"))
        hive.add_service("broker", broker.run)
        await broker.ready()
        await hive.registry.create("alice", runtime="claude", model=MODEL)
        token = (hive.paths.agent_run("alice") / "token").read_text().strip()
        if whose == "stopped":
            await hive.registry.revoke_token("alice")  # what stopping it does
        else:
            token = "a-guessed-token"
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
               "CLAUDE_CONFIG_DIR": str(tmp_path / ".claude"),
               "ANTHROPIC_BASE_URL": broker.url, "ANTHROPIC_AUTH_TOKEN": token,
               "CLAUDE_CODE_MAX_RETRIES": "0", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        proc = await asyncio.create_subprocess_exec(
            claude_bin, "-p", "--output-format", "stream-json", "--verbose", "--model", MODEL,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
        out, _ = await asyncio.wait_for(proc.communicate(b"hi"), 120)
        [result] = [json.loads(line) for line in out.splitlines()
                    if line.startswith(b"{") and json.loads(line).get("type") == "result"]
        assert proc.returncode == 1 and result["is_error"] is True, result
        assert api.requests == []
