"""The claude runtime against a fake ``claude`` that replays real-shaped stream-json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hivetui.core.errors import HarnessError
from hivetui.core.settings import AgentSettings, McpServerSpec
from hivetui.core.tool_surface import model_tools
from hivetui.harness.claude import ClaudeRuntime
from hivetui.harness.client import InboxMessage
from hivetui.harness.runtime import AgentIdentity, TurnContext
from hivetui.harness.stream import StreamParser
from tests.fakes.claude import scenarios as sc
from tests.fakes.claude.scenarios import FakeClaude

URL = "http://127.0.0.1:9/mcp"
TOKEN = "tok-alice"
SETTINGS = AgentSettings(
    model="claude-sonnet-4-5",
    allowed_tools=("Read", "Edit", "Bash(git *)", "Bash(npm run test:*)", "mcp__hive"),
    extra_mcp_servers=(McpServerSpec(name="files", command="/usr/bin/files-mcp",
                                     args=("--root", "/state"), env={"FILES_RO": "1"}),),
)
AGENT = AgentIdentity(name="alice", role="worker", runtime="claude", settings=SETTINGS)


def _runtime(tmp_path: Path, steps: list[dict], agent: AgentIdentity = AGENT
             ) -> tuple[ClaudeRuntime, FakeClaude]:
    fake = FakeClaude(tmp_path / "fake", steps)
    state = tmp_path / "state"
    state.mkdir()
    (state / "notes.md").write_text("# notes\n- build is green\n")
    rt = ClaudeRuntime(agent, bridge_url=URL, token=TOKEN, state_dir=state,
                       claude_bin=str(fake.bin), env=fake.env)
    return rt, fake


def _ctx(model: str = "claude-sonnet-4-5", body: str = "please clean up") -> TurnContext:
    msg = InboxMessage(id=12, sender="operator", recipient="alice", kind="operator", body=body,
                  ts=1_700_000_000.0)
    return TurnContext(messages=(msg,), model=model, turn_no=1)


def _expected_argv(rt: ClaudeRuntime, model: str, *, resume: bool) -> list[str]:
    mcp = {"mcpServers": {
        "hive": {"type": "http", "url": URL, "headers": {"Authorization": f"Bearer {TOKEN}"}},
        "files": {"command": "/usr/bin/files-mcp", "args": ["--root", "/state"],
                  "env": {"FILES_RO": "1"}},
    }}
    mcp_file = rt.state_dir / ".hive" / "mcp.json"
    assert json.loads(mcp_file.read_text()) == mcp  # the token lives in a 0600 file, not argv
    assert mcp_file.stat().st_mode & 0o777 == 0o600
    argv = [rt.claude_bin, "-p", "--output-format", "stream-json", "--verbose",
            "--model", model, "--strict-mcp-config",
            "--mcp-config", str(rt.state_dir / ".hive" / "mcp.json"),
            "--allowedTools", "Read", "Edit", "Bash(git *)", "Bash(npm run test:*)",
            "mcp__hive__send", "--append-system-prompt", rt.system_prompt()]
    return [*argv, "--continue"] if resume else argv


async def test_success_with_tool_calls_exact_argv_and_counts(tmp_path: Path) -> None:
    rt, fake = _runtime(tmp_path, [sc.success_with_tools(), sc.simple_ok(cost=0.002)])
    result = await rt.run_turn(_ctx())
    assert result.outcome == "ok"
    assert dict(result.tool_calls) == {"Bash": 3, "Read": 1, "mcp__hive__send": 1}
    assert dict(result.sent_to) == {"operator": 1}
    assert result.cost_usd == pytest.approx(0.0421)
    assert result.runtime_duration_s == pytest.approx(5.123)
    assert result.denials == ["Bash(rm -rf /tmp/x)"]
    assert "denied: Bash(rm -rf /tmp/x)" in result.detail
    first = fake.calls()[0]
    assert first["argv"] == _expected_argv(rt, "claude-sonnet-4-5", resume=False)[1:]
    assert first["cwd"] == str(rt.state_dir)
    assert first["config_dir"] == str(rt.state_dir / ".claude")
    assert "[message 12 from operator (operator)" in first["stdin"]
    assert "please clean up" in first["stdin"]
    prompt = first["argv"][first["argv"].index("--append-system-prompt") + 1]
    assert '"alice", a worker agent' in prompt and "- build is green" in prompt

    # second turn continues the session, with the next turn's model
    result = await rt.run_turn(_ctx(model="claude-opus-4-1"))
    assert result.outcome == "ok" and result.cost_usd == pytest.approx(0.002)
    second = fake.calls()[1]
    assert second["argv"] == _expected_argv(rt, "claude-opus-4-1", resume=True)[1:]


def _allowed(argv: list[str]) -> list[str]:
    i = argv.index("--allowedTools")
    return argv[i + 1:argv.index("--append-system-prompt")]


@pytest.mark.parametrize("settings_rules", [
    ("Read", "Bash(git *)"),
    # the whole server, or a harness tool, in the settings: never passed on as such
    ("Read", "mcp__hive", "Bash(git *)", "mcp__hive__recv", "mcp__hive__report_turn"),
])
async def test_allowed_hive_tools_are_exactly_the_models_by_role(
        tmp_path: Path, settings_rules: tuple[str, ...]) -> None:
    settings = AgentSettings(allowed_tools=settings_rules)
    manager = AgentIdentity(name="bob", role="manager", runtime="claude", settings=settings)
    rt, _ = _runtime(tmp_path, [], manager)
    argv = rt.build_argv("m", resume=False)
    assert _allowed(argv) == ["Read", "Bash(git *)",
                              *(f"mcp__hive__{t}" for t in model_tools("manager"))]
    assert "mcp__hive__list_agents" in _allowed(argv)
    assert "manager" in argv[-1] and "request_spawn" in argv[-1]
    worker = AgentIdentity(name="ann", role="worker", runtime="claude", settings=settings)
    worker_rt = ClaudeRuntime(worker, bridge_url=URL, token=TOKEN, state_dir=rt.state_dir)
    assert _allowed(worker_rt.build_argv("m", resume=False)) == [
        "Read", "Bash(git *)", "mcp__hive__send"]


async def test_api_error_with_subtype_success_is_a_failure(tmp_path: Path) -> None:
    rt, fake = _runtime(tmp_path, [sc.api_error()])
    result = await rt.run_turn(_ctx())
    assert result.outcome == "failure"
    # the CLI's own words, whole, and no "(exit 1, success)" label
    assert result.failure == ('API Error: 500 {"type":"error","error":{"type":"api_error",'
                              '"message":"Internal server error"}}')
    assert result.detail == result.failure
    assert len(fake.calls()) == 1  # no retry for an API error


@pytest.mark.parametrize(("step", "reason"), [
    ({"events": [sc.init(), sc.result()], "exit": 1}, "exited 1 after a result"),
    ({"events": [sc.init(), sc.result(subtype="error_max_turns")], "exit": 0},
     "error_max_turns"),
    ({"events": [sc.init()], "exit": 0, "stderr": "boom"}, "exited 0 without a result (boom)"),
])
async def test_other_failures(tmp_path: Path, step: dict, reason: str) -> None:
    rt, _ = _runtime(tmp_path, [step])
    result = await rt.run_turn(_ctx())
    assert result.outcome == "failure"
    assert reason in result.detail


async def test_prompt_too_long_compacts_once_and_retries(tmp_path: Path) -> None:
    rt, fake = _runtime(tmp_path, [sc.prompt_too_long(), sc.compact_ok(),
                                   sc.simple_ok(cost=0.001)])
    result = await rt.run_turn(_ctx())
    assert result.outcome == "compact_retry"
    assert result.cost_usd == pytest.approx(0.021)
    calls = fake.calls()
    assert [c["stdin"].startswith("You have 1 new message") for c in calls] == [
        True, False, True]
    assert calls[1]["stdin"] == "/compact"
    assert calls[1]["argv"] == _expected_argv(rt, "claude-sonnet-4-5", resume=True)[1:]
    assert calls[2]["argv"][-1] == "--continue"


async def test_prompt_too_long_twice_is_a_failure_not_a_loop(tmp_path: Path) -> None:
    rt, fake = _runtime(tmp_path, [sc.prompt_too_long(), sc.compact_ok(), sc.prompt_too_long()])
    result = await rt.run_turn(_ctx())
    assert result.outcome == "failure"
    assert "after compaction" in result.detail
    assert len(fake.calls()) == 3


async def test_hive_mcp_server_failed_at_init_is_an_error(tmp_path: Path) -> None:
    rt, _ = _runtime(tmp_path, [sc.mcp_failed("hive")])
    with pytest.raises(HarnessError, match="MCP server hive failed at init"):
        await rt.run_turn(_ctx())


async def test_extra_mcp_server_failed_is_reported(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    rt, _ = _runtime(tmp_path, [sc.mcp_failed("files")])
    with caplog.at_level(logging.ERROR, logger="hivetui.harness.claude"):
        result = await rt.run_turn(_ctx())
    assert "MCP server(s) failed at init: files" in result.detail
    assert any("MCP server files failed at init" in r.getMessage() for r in caplog.records)


async def test_lost_conversation_starts_a_new_one(tmp_path: Path) -> None:
    rt, fake = _runtime(tmp_path, [sc.simple_ok()])
    rt.hive_dir.mkdir()
    rt.session_file.write_text("gone\n")  # a session the CLI does not know any more
    # the fake refuses --continue (no conversation in this cwd) before reading step 1
    steps = [{"events": [], "exit": 1}, sc.simple_ok()]
    (fake.root / "script.json").write_text(json.dumps(steps))
    result = await rt.run_turn(_ctx())
    assert result.outcome == "ok"
    calls = fake.calls()
    assert calls[0]["argv"][-1] == "--continue" and calls[1]["argv"][-1] != "--continue"


async def test_notes_compaction_is_a_separate_run(tmp_path: Path) -> None:
    rt, fake = _runtime(tmp_path, [sc.notes_rewrite("# notes\n- short\n")])
    new = await rt.compact_notes("# notes\n" + "- line\n" * 500, 1000, "claude-haiku-4-5")
    assert new == "# notes\n- short\n"
    call = fake.calls()[0]
    assert "--continue" not in call["argv"] and "--allowedTools" not in call["argv"]
    assert call["cwd"] == str(rt.state_dir / ".hive" / "compact")
    assert call["argv"][call["argv"].index("--model") + 1] == "claude-haiku-4-5"
    assert "at most 500 bytes" in call["stdin"]


def test_parser_counts_sends_only_when_they_succeed() -> None:
    p = StreamParser()
    for event in [sc.init(),
                  sc.assistant(sc.tool_use("a", "mcp__hive__send", to="bob", body="x"),
                               sc.tool_use("b", "mcp__hive__send", to="carol", body="y")),
                  sc.tool_result("a", "ok"), sc.tool_result("b", "no such agent", True),
                  sc.assistant(sc.tool_use("c", "mcp__hive__ask_operator", question="ok?")),
                  sc.tool_result("c", "{}"), sc.result()]:
        p.feed(json.dumps(event))
    p.feed("not json\n")
    assert dict(p.stats.tool_calls) == {"mcp__hive__send": 2, "mcp__hive__ask_operator": 1}
    assert dict(p.stats.sent_to) == {"bob": 1}
    assert p.stats.questions == ["ok?"]
    assert p.stats.bad_lines == 1 and not p.stats.is_error


async def test_missing_binary_and_huge_notes(tmp_path: Path) -> None:
    rt, fake = _runtime(tmp_path, [sc.simple_ok()])
    (rt.state_dir / "notes.md").write_text("# notes\n" + "- x" * 100_000 + "\n- newest\n")
    assert await rt.run_turn(_ctx()) is not None  # argv stays under the per-string limit
    prompt = fake.calls()[0]["argv"][fake.calls()[0]["argv"].index("--append-system-prompt") + 1]
    assert "older notes cut" in prompt and prompt.endswith("- newest")
    assert len(prompt.encode()) < 128 * 1024
    rt.claude_bin = str(tmp_path / "no-such-claude")
    with pytest.raises(HarnessError, match="not found"):
        await rt.run_turn(_ctx())
