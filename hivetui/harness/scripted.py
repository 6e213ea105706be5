"""``scripted:*`` runtimes: deterministic agents, each a real MCP client of the bridge.

- ``scripted:echo`` answers every message to its sender with ``echo: <body>``
  (never answers system messages nor another echo, so two echo agents do not ping-pong).
- ``scripted:crash-after:N`` echoes, and after its N-th turn the harness exits with status 3.
- ``scripted:manager``: an operator's ``spawn NAME [RUNTIME]`` -> ``request_spawn``;
  ``ask QUESTION`` -> ``ask_operator``; any other operator message is forwarded to a worker
  (round-robin over ``list_agents()``); a ``container_crash`` system event -> ``restart``;
  a worker's message is relayed to the operator.

Each keeps one line a turn in ``/state/notes.md``; ``compact_notes`` is deterministic.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from hivetui.core.errors import HarnessError
from hivetui.core.names import OPERATOR
from hivetui.core.transcript_format import call_event, result_event
from hivetui.harness.client import HiveClient, InboxMessage
from hivetui.harness.runtime import AgentIdentity, TurnContext, TurnResult
from hivetui.harness.transcript import Emit, no_emit

log = logging.getLogger(__name__)

CRASH_STATUS = 3
ECHO_PREFIX = "echo: "
BEHAVIOURS = ("echo", "crash-after:N", "manager")
SPAWN_RE = re.compile(r"^spawn\s+(\S+)(?:\s+(\S+))?\s*$")
ASK_RE = re.compile(r"^ask\s+(.+)$", re.DOTALL)


def compact_lines(notes: str, limit_bytes: int) -> str:
    """Keep the first line and the newest lines that fit in half the limit."""
    lines = notes.splitlines()
    if not lines:
        return ""
    head, rest = lines[0], lines[1:]
    budget = limit_bytes // 2 - len(head.encode()) - 64
    kept: list[str] = []
    for line in reversed(rest):
        cost = len(line.encode()) + 1
        if budget - cost < 0:
            break
        kept.append(line)
        budget -= cost
    kept.reverse()
    dropped = len(rest) - len(kept)
    return "\n".join([head, f"- (compacted: {dropped} older line(s) dropped)", *kept]) + "\n"


class ScriptedRuntime:
    """Base: bookkeeping of tool calls and the notes file."""

    def __init__(self, name: str, client: HiveClient, agent: AgentIdentity,
                 state_dir: Path) -> None:
        self.name = name
        self.client = client
        self.agent = agent
        self.notes_file = state_dir / "notes.md"
        self._result = TurnResult(outcome="ok")
        self._emit: Emit = no_emit
        self._calls = 0

    async def run_turn(self, ctx: TurnContext) -> TurnResult:
        self._result = TurnResult(outcome="ok")
        self._emit = ctx.emit
        errors: list[str] = []
        for message in ctx.messages:
            try:
                await self.handle(message)
            except HarnessError as exc:  # one refused call does not stop the others
                log.error("%s: handling message %s failed: %s", self.name, message.id, exc)
                errors.append(str(exc))
        if errors:
            self._result.outcome = "failure"
            self._result.detail = "; ".join(errors)
        self.note(f"- turn {ctx.turn_no}: {len(ctx.messages)} message(s) from "
                  f"{', '.join(dict.fromkeys(m.sender for m in ctx.messages))}; "
                  f"model {ctx.model}; {self._result.outcome}")
        self.after_turn(ctx)
        return self._result

    async def handle(self, message: InboxMessage) -> None:
        raise NotImplementedError

    def after_turn(self, ctx: TurnContext) -> None:
        return None

    def note(self, line: str) -> None:
        new = not self.notes_file.exists()
        with self.notes_file.open("a", encoding="utf-8") as fh:
            if new:
                fh.write(f"# notes of {self.agent.name} ({self.name})\n")
            fh.write(line + "\n")

    async def tool(self, tool: str, **args: Any) -> dict[str, Any]:
        """Call a bridge tool as the model would, into the transcript with its result."""
        full = f"mcp__hive__{tool}"
        self._result.tool_calls[full] += 1
        self._calls += 1
        call_id = f"scripted-{self._calls}"
        self._emit(call_event(call_id, full, args, time.time()))
        try:
            result: Any = await getattr(self.client, tool)(**args)
        except HarnessError as exc:
            self._emit(result_event(call_id, str(exc), True, time.time()))
            raise
        data = result if isinstance(result, dict) else {"result": result}
        self._emit(result_event(call_id, json.dumps(data, default=str), False, time.time()))
        return data

    def say(self, text: str) -> None:
        """Assistant text, as a model's would show in the transcript."""
        self._emit({"kind": "text", "ts": time.time(), "text": text})

    async def send(self, to: str, body: str) -> None:
        await self.tool("send", to=to, body=body)
        self._result.sent_to[to] += 1

    async def compact_notes(self, notes: str, limit_bytes: int, model: str) -> str:
        return compact_lines(notes, limit_bytes)

    async def aclose(self) -> None:
        return None


class EchoRuntime(ScriptedRuntime):
    async def handle(self, message: InboxMessage) -> None:
        if message.kind == "system" or message.body.startswith(ECHO_PREFIX):
            self.say(f"nothing to answer in message {message.id}")
            return
        self.say(f"echoing message {message.id} back to {message.sender}")
        await self.send(message.sender, ECHO_PREFIX + message.body)


class CrashAfterRuntime(EchoRuntime):
    def __init__(self, name: str, client: HiveClient, agent: AgentIdentity, state_dir: Path,
                 turns: int) -> None:
        super().__init__(name, client, agent, state_dir)
        self.crash_after = turns

    def after_turn(self, ctx: TurnContext) -> None:
        if ctx.turn_no >= self.crash_after:
            self._result.exit_status = CRASH_STATUS
            self._result.detail = (self._result.detail + "; " if self._result.detail else "") \
                + f"crashing after turn {ctx.turn_no} (status {CRASH_STATUS})"


class ManagerRuntime(ScriptedRuntime):
    def __init__(self, name: str, client: HiveClient, agent: AgentIdentity,
                 state_dir: Path) -> None:
        super().__init__(name, client, agent, state_dir)
        self._next = 0  # round-robin position over the workers

    async def handle(self, message: InboxMessage) -> None:
        if message.kind == "system":
            await self.on_event(message)
        elif message.kind == "operator":
            await self.on_operator(message.body.strip())
        else:  # a worker's answer goes up to the operator
            await self.send(OPERATOR, f"{message.sender}: {message.body}")

    async def on_operator(self, text: str) -> None:
        if m := SPAWN_RE.match(text):
            await self.tool("request_spawn", name=m.group(1), runtime=m.group(2))
        elif m := ASK_RE.match(text):
            question = m.group(1).strip()
            await self.tool("ask_operator", question=question)
            self._result.waiting_operator = question
        else:
            await self.forward(text)

    async def forward(self, text: str) -> None:
        agents = await self.client.list_agents()
        self._result.tool_calls["mcp__hive__list_agents"] += 1
        workers = sorted(str(a["name"]) for a in agents
                         if a.get("name") and a.get("name") != self.agent.name
                         and a.get("role", "worker") != "manager"
                         and a.get("state", "running") == "running")
        if not workers:
            await self.send(OPERATOR, f"no running worker to forward to: {text}")
            return
        worker = workers[self._next % len(workers)]
        self._next += 1
        await self.send(worker, text)

    async def on_event(self, message: InboxMessage) -> None:
        try:
            event = json.loads(message.body)
        except json.JSONDecodeError:
            log.warning("system message %s is not JSON: %.100s", message.id, message.body)
            return
        if not isinstance(event, dict):
            return
        kind = event.get("event")
        if kind == "container_crash" and isinstance(event.get("agent"), str):
            log.info("restarting crashed agent %s", event["agent"])
            self.say(f"{event['agent']} crashed: restarting it")
            await self.tool("restart", agent=event["agent"])
        else:
            log.info("manager event %s: %s", kind, event)


def make_scripted(runtime: str, client: HiveClient, agent: AgentIdentity,
                  state_dir: Path) -> ScriptedRuntime:
    behaviour = runtime.removeprefix("scripted:")
    if behaviour == "echo":
        return EchoRuntime(runtime, client, agent, state_dir)
    if behaviour == "manager":
        return ManagerRuntime(runtime, client, agent, state_dir)
    if behaviour.startswith("crash-after:"):
        count = behaviour.removeprefix("crash-after:")
        if not count.isdigit() or int(count) < 1:
            raise HarnessError(f"runtime {runtime!r}: crash-after needs a positive turn count")
        return CrashAfterRuntime(runtime, client, agent, state_dir, int(count))
    raise HarnessError(f"unknown scripted runtime {runtime!r} "
                       f"(known: {', '.join('scripted:' + b for b in BEHAVIOURS)})")
