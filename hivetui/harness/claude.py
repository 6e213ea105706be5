"""The ``claude`` runtime: one ``claude -p`` run per turn (reference.md, Claude Code CLI)."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hivetui.core.errors import HarnessError
from hivetui.core.runtimes import CLAUDE_BIN_ENV
from hivetui.core.tool_surface import model_tools
from hivetui.harness.process import ProcessResult, run_process
from hivetui.harness.runtime import AgentIdentity, TurnContext, TurnResult, format_messages
from hivetui.harness.stream import HIVE_SERVER, StreamParser, StreamStats
from hivetui.harness.transcript import Emit, no_emit

log = logging.getLogger(__name__)

NO_CONVERSATION = "No conversation found"
#: credentials claude would prefer to the agent's token; never passed on beside a broker
API_CREDENTIALS = frozenset({"ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN",
                             "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"})
# one argv string is capped at 128 KiB on Linux (MAX_ARG_STRLEN): keep the notes below it
MAX_NOTES_IN_PROMPT = 96 * 1024

MANAGER_PROMPT = (
    "You are the hive's manager: you coordinate the workers. Manager tools: "
    "mcp__hive__list_agents, request_spawn, request_spawn_draft, request_spawn_commit, "
    "request_apply_commit, start, stop, restart, kill, ask_operator, get_logs. Spawning an "
    "agent or applying a config commit waits for the operator's approval; the outcome "
    "arrives as a system message with event approval_resolved and result approved, denied "
    "(with the operator's reason) or failed (with what went wrong). Crashes arrive as "
    "container_crash and crash_loop events; answers to your questions as operator_answer."
)

COMPACT_SYSTEM_PROMPT = (
    "You rewrite an agent's notes file to make it shorter. Keep every durable fact, open "
    "task, decision and name; drop repetition and finished detail. Answer with the new "
    "notes only, as Markdown, with no preamble."
)


def claude_bin_default() -> str:
    return os.environ.get(CLAUDE_BIN_ENV) or "claude"


@dataclass(frozen=True)
class _Run:
    stats: StreamStats
    proc: ProcessResult

    def verdict(self) -> tuple[bool, str]:
        """(ok, reason): exit code, ``is_error`` and ``subtype`` together decide. A failure's
        reason is the CLI's own words (its ``result`` text, e.g. "API Error: 529 …" or
        "Not logged in · Please run /login"), else its last stderr line."""
        s, rc = self.stats, self.proc.returncode
        if s.result is None:
            last = self.proc.stderr_tail[-1] if self.proc.stderr_tail else "no stderr"
            return False, f"claude exited {rc} without a result ({last})"
        if s.is_error:
            text = s.result_text.strip()
            if text:
                log.error("claude's error (exit %s, %s): %s", rc, s.subtype, text)
                return False, " ".join(text.split())
            return False, f"claude ended with an error ({s.terminal_reason or s.subtype}, " \
                          f"exit {rc})"
        if rc != 0:
            return False, f"claude exited {rc} after a result"
        if s.subtype != "success":
            return False, f"claude ended with {s.subtype}"
        return True, ""


class ClaudeRuntime:
    name = "claude"

    def __init__(self, agent: AgentIdentity, *, bridge_url: str, token: str, state_dir: Path,
                 claude_bin: str | None = None, env: Mapping[str, str] | None = None,
                 broker: Callable[[], str] = lambda: "") -> None:
        self.agent = agent
        self.bridge_url = bridge_url
        self._token = token
        self.state_dir = state_dir
        self.claude_bin = claude_bin or claude_bin_default()
        base = dict(os.environ if env is None else env)
        base.setdefault("CLAUDE_CONFIG_DIR", str(state_dir / ".claude"))
        base.setdefault("DISABLE_AUTOUPDATER", "1")
        # no telemetry or error reports from inside a container: its only way out is the
        # hive (the broker, the allow-listed hosts)
        base.setdefault("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        self.env = base
        #: the core's credential broker, read again before every run (bridge.json)
        self._broker = broker
        self.hive_dir = state_dir / ".hive"
        self.session_file = self.hive_dir / "claude-session"
        self.notes_file = state_dir / "notes.md"

    # --- command line ---------------------------------------------------------------
    def mcp_config(self) -> dict[str, Any]:
        servers: dict[str, Any] = {HIVE_SERVER: {
            "type": "http", "url": self.bridge_url,
            "headers": {"Authorization": f"Bearer {self._token}"},
        }}
        for spec in self.agent.settings.extra_mcp_servers:
            servers[spec.name] = {"command": spec.command, "args": list(spec.args),
                                  "env": dict(spec.env)}
        return {"mcpServers": servers}

    def write_mcp_config(self) -> Path:
        """The MCP config as a 0600 file: the bearer token never appears in an argv,
        which any user of the host could read in /proc."""
        self.hive_dir.mkdir(parents=True, exist_ok=True)
        path = self.hive_dir / "mcp.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.mcp_config(), fh, separators=(",", ":"))
        os.chmod(path, 0o600)
        return path

    def allowed_tools(self) -> list[str]:
        """The settings' rules, with the hive's tools exactly the model's own (by role):
        ``mcp__hive`` alone would allow the whole server (reference: MCP permissions)."""
        hive = f"mcp__{HIVE_SERVER}"
        tools = [t for t in self.agent.settings.allowed_tools
                 if t != hive and not t.startswith(hive + "__")]
        return tools + [f"{hive}__{name}" for name in model_tools(self.agent.role)]

    def system_prompt(self) -> str:
        try:
            notes = self.notes_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            notes = ""
        raw = notes.encode()
        if len(raw) > MAX_NOTES_IN_PROMPT:
            log.warning("notes are %s bytes: only the last %s go into the system prompt",
                        len(raw), MAX_NOTES_IN_PROMPT)
            notes = "(older notes cut: the file is too long)\n" + \
                raw[-MAX_NOTES_IN_PROMPT:].decode(errors="ignore")
        parts = [
            f'You are "{self.agent.name}", a {self.agent.role} agent in a hive of autonomous '
            "coding agents run by a human operator. Turn prompts bring you new messages; talk "
            "to others only through the hive MCP tools (mcp__hive__send(to, body); the "
            'operator is "operator").',
        ]
        if self.agent.role == "manager":
            parts.append(MANAGER_PROMPT)
        parts.append("Keep durable notes in /state/notes.md (short: they come back to you "
                     "at every turn, below).")
        parts.append("## /state/notes.md\n" + (notes.strip() or "(empty)"))
        return "\n\n".join(parts)

    def build_argv(self, model: str, *, resume: bool) -> list[str]:
        argv = [self.claude_bin, "-p", "--output-format", "stream-json", "--verbose",
                "--model", model, "--strict-mcp-config",
                "--mcp-config", str(self.write_mcp_config()),
                "--allowedTools", *self.allowed_tools(),
                "--append-system-prompt", self.system_prompt()]
        if resume:
            argv.append("--continue")
        return argv

    def run_env(self) -> dict[str, str]:
        """claude's environment: with a broker named, the API is the broker and the
        credential is this agent's own hive token (the operator's never comes here)."""
        broker = self._broker()
        if not broker:
            return self.env
        env = {k: v for k, v in self.env.items() if k not in API_CREDENTIALS}
        env["ANTHROPIC_BASE_URL"] = broker
        env["ANTHROPIC_AUTH_TOKEN"] = self._token
        return env

    # --- one run --------------------------------------------------------------------
    def _on_init(self, stats: StreamStats) -> None:
        if stats.session_id:
            self.hive_dir.mkdir(parents=True, exist_ok=True)
            self.session_file.write_text(stats.session_id + "\n", encoding="utf-8")
        if stats.mcp_servers.get(HIVE_SERVER) == "failed":
            raise HarnessError(f"MCP server {HIVE_SERVER} failed at init ({self.bridge_url}): "
                               "the agent cannot reach the bridge; turn stopped")
        if HIVE_SERVER not in stats.mcp_servers:
            log.error("claude's init lists no %s MCP server: %s", HIVE_SERVER,
                      sorted(stats.mcp_servers))
        for name in stats.failed_servers():
            log.error("MCP server %s failed at init (agent %s)", name, self.agent.name)

    async def _run(self, argv: list[str], prompt: str, cwd: Path, *, check_init: bool = True,
                   emit: Emit = no_emit) -> _Run:
        parser = StreamParser(on_init=self._on_init if check_init else None, emit=emit)
        log.info("claude run (%s, cwd %s)", "continue" if "--continue" in argv else "new", cwd)
        proc = await run_process(argv, prompt, cwd=cwd, env=self.run_env(), on_line=parser.feed)
        return _Run(parser.stats, proc)

    async def run_turn(self, ctx: TurnContext) -> TurnResult:
        prompt = format_messages(ctx.messages)
        resume = self.session_file.exists()
        runs = [await self._run(self.build_argv(ctx.model, resume=resume), prompt,
                                self.state_dir, emit=ctx.emit)]
        if resume and runs[0].stats.result is None and \
                any(NO_CONVERSATION in line for line in runs[0].proc.stderr_tail):
            log.warning("claude found no conversation to continue: starting a new one")
            self.session_file.unlink(missing_ok=True)
            runs.append(await self._run(self.build_argv(ctx.model, resume=False), prompt,
                                        self.state_dir, emit=ctx.emit))
        ok, reason = runs[-1].verdict()
        outcome = "ok" if ok else "failure"
        if runs[-1].stats.prompt_too_long:
            log.warning("prompt too long for %s: compacting once and retrying", self.agent.name)
            argv = self.build_argv(ctx.model, resume=True)
            ctx.emit({"kind": "compact", "ts": time.time(),
                      "text": "prompt too long: compacting once and retrying"})
            runs.append(await self._run(argv, "/compact", self.state_dir, emit=ctx.emit))
            compact_ok, compact_reason = runs[-1].verdict()
            if compact_ok:
                runs.append(await self._run(argv, prompt, self.state_dir, emit=ctx.emit))
                ok, reason = runs[-1].verdict()
                outcome = "compact_retry" if ok else "failure"
                if not ok:
                    reason = f"failed after compaction: {reason}"
            else:
                outcome, reason = "failure", f"compaction failed: {compact_reason}"
        return self._result(outcome, reason, runs)

    def _result(self, outcome: str, reason: str, runs: list[_Run]) -> TurnResult:
        result = TurnResult(outcome="ok" if outcome == "ok" else
                            "compact_retry" if outcome == "compact_retry" else "failure")
        details = [reason] if reason else []
        for run in runs:
            result.tool_calls.update(run.stats.tool_calls)
            result.sent_to.update(run.stats.sent_to)
            result.cost_usd += run.stats.cost_usd
            result.runtime_duration_s = (result.runtime_duration_s or 0.0) + \
                run.stats.duration_ms / 1000
            result.denials += run.stats.denials
            for key, count in run.stats.tokens.items():
                result.tokens[key] = result.tokens.get(key, 0) + count
            if run.stats.questions:
                result.waiting_operator = run.stats.questions[-1]
        failed = sorted({n for run in runs for n in run.stats.failed_servers()})
        if failed:
            details.append("MCP server(s) failed at init: " + ", ".join(failed))
        if result.denials:
            details.append("denied: " + ", ".join(result.denials[:5]))
        result.detail = "; ".join(details)
        if result.outcome == "failure":
            result.failure = reason
        result.model = next((run.stats.model for run in reversed(runs) if run.stats.model),
                            None)
        return result

    # --- notes compaction -------------------------------------------------------------
    async def compact_notes(self, notes: str, limit_bytes: int, model: str) -> str:
        """A separate short run in its own cwd (so ``--continue`` never picks it up)."""
        cwd = self.hive_dir / "compact"
        cwd.mkdir(parents=True, exist_ok=True)
        argv = [self.claude_bin, "-p", "--output-format", "stream-json", "--verbose",
                "--model", model, "--strict-mcp-config",
                "--mcp-config", json.dumps({"mcpServers": {}}),
                "--append-system-prompt", COMPACT_SYSTEM_PROMPT]
        prompt = (f"Rewrite these notes in at most {limit_bytes // 2} bytes.\n\n"
                  f"<notes>\n{notes}\n</notes>\n")
        run = await self._run(argv, prompt, cwd, check_init=False)
        ok, reason = run.verdict()
        if not ok:
            raise HarnessError(f"notes compaction run failed: {reason}")
        text = run.stats.result_text.strip()
        if not text:
            raise HarnessError("notes compaction run returned empty notes")
        return text + "\n"

    async def aclose(self) -> None:
        return None
