"""The MCP tools of interfaces.md. Every tool learns its caller from the bearer token.

``register_tools`` registers the tools named in ``only`` (``core.tool_surface`` says which
endpoint serves which): the model's endpoint never has the harness's tools.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from hivetui.bridge.auth import caller
from hivetui.bridge.disconnect import client_gone
from hivetui.core.bounded import quoted
from hivetui.core.errors import ContainerError, HiveError, PermissionDenied
from hivetui.core.events import StatusChanged, TurnFailed
from hivetui.core.hive import Hive
from hivetui.core.lifecycle import Lifecycle
from hivetui.core.registry import STATUSES, Agent
from hivetui.core.views import Approval

log = logging.getLogger(__name__)

OUTCOMES = ("ok", "compact_retry", "failure")


@asynccontextmanager
async def refusals(tool: str) -> AsyncIterator[None]:
    """Turn our errors into MCP tool errors carrying the title and the one-line reason."""
    try:
        yield
    except HiveError as exc:
        log.info("bridge: %s refused: %s", tool, exc)
        raise ToolError(f"{exc.title}: {exc.message}") from exc


def _approval(a: Approval) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "agent": a.agent, "commit": a.commit, "state": a.state}


ToolFunction = Callable[..., Any]


def register_tools(server: MCPServer, hive: Hive, only: Collection[str]) -> None:
    registry = hive.registry

    def tool(description: str) -> Callable[[ToolFunction], ToolFunction]:
        def register(fn: ToolFunction) -> ToolFunction:
            if fn.__name__ in only:
                server.tool(description=description)(fn)
            return fn
        return register

    def manager() -> Agent:
        agent = caller(registry)
        if agent.role != "manager":
            raise PermissionDenied(
                f"{agent.name} is a worker: this tool is for the manager only"
            )
        return agent

    def lifecycle() -> Lifecycle:
        if hive.lifecycle is None:
            raise ContainerError("this hive runs without a container backend")
        return hive.lifecycle

    # --- every agent -----------------------------------------------------------
    @tool("Send a message to an agent or to 'operator'. A retry with the same "
          "idempotency_key (any text unique to this message) sends it once.")
    async def send(to: str, body: str, idempotency_key: str | None = None) -> dict[str, Any]:
        async with refusals("send"):
            me = caller(registry)
            msg = await hive.bus.send(me.name, to, body, idempotency_key)
            return {"id": msg.id, "depth": hive.bus.depth(to)}

    @tool("Receive messages from your inbox, waiting up to wait_s seconds. "
          "With ack (the id of the last message you fully handled) messages stay "
          "in the inbox until acknowledged, so none is lost if you die mid-turn.")
    async def recv(ctx: Context, wait_s: float = 0.0, max: int = 20, ack: int | None = None
                   ) -> dict[str, Any]:
        async with refusals("recv"):
            me = caller(registry)
            if isinstance(wait_s, int | float) and wait_s > 0 and not hive.bus.depth(me.name):
                # a long-poll: it must end, taking nothing, if its client goes away
                async with client_gone(ctx.request_context.request) as gone:
                    msgs = await hive.bus.recv(me.name, wait_s, max, ack, gone=gone)
            else:
                msgs = await hive.bus.recv(me.name, wait_s, max, ack)
            return {"messages": [
                {"id": m.id, "sender": m.sender, "recipient": m.recipient, "kind": m.kind,
                 "body": m.body, "ts": m.ts, "attempts": m.attempts} for m in msgs
            ]}

    @tool("Acknowledge your messages up to this id: a turn that ended ok handled them.")
    async def ack(upto: int) -> dict[str, Any]:
        async with refusals("ack"):
            me = caller(registry)
            await hive.bus.ack(me.name, upto)
            return {"ok": True, "depth": hive.bus.depth(me.name)}

    @tool("Report your own status: idle, in_turn or waiting_operator.")
    async def set_status(status: str, detail: str = "") -> dict[str, Any]:
        async with refusals("set_status"):
            me = caller(registry)
            allowed = [s for s in STATUSES if s != "offline"]
            if status not in allowed:
                raise HiveError(f"status must be one of {', '.join(allowed)}, got {quoted(status)}")
            if len(detail) > 500:
                raise HiveError("status detail is limited to 500 characters")
            await registry.update(me.name, status=status, status_detail=detail)
            hive.hub.publish(StatusChanged(agent=me.name, status=status, detail=detail))
            return {"ok": True}

    @tool("Report the end of a turn (telemetry). A failed turn names its messages and "
          "why it failed: they stay in the inbox, and go to the dead after "
          "harness.max_attempts failed turns.")
    async def report_turn(outcome: str, duration_s: float, tool_calls: dict[str, int] | None = None,
                          cost_usd: float = 0.0, sent: dict[str, int] | None = None,
                          received: dict[str, int] | None = None, notes_bytes: int = 0,
                          detail: str = "", messages: list[int] | None = None,
                          failure: str = "") -> dict[str, Any]:
        async with refusals("report_turn"):
            me = caller(registry)
            if outcome not in OUTCOMES:
                raise HiveError(f"outcome must be one of {', '.join(OUTCOMES)}, "
                                f"got {quoted(outcome)}")
            await hive.metrics.record_turn(me.name, outcome, duration_s, tool_calls or {}, cost_usd,
                              sent or {}, received or {}, notes_bytes, detail)
            if outcome != "failure":
                return {"ok": True, "dead": []}
            reason = failure.strip() or detail or "turn failed"
            hive.hub.publish(TurnFailed(agent=me.name, reason=reason[:2000],
                                        messages=tuple(messages or ())))
            dead = await hive.bus.turn_failed(me.name, messages or [], reason)
            return {"ok": True, "dead": [m.id for m in dead]}

    @tool("Stream events of your current turn (transcript): turn_key names the turn, "
          "events are objects with a kind (prompt, text, tool_call, tool_result, error, "
          "compact, dropped, end).")
    async def transcript(turn_key: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        async with refusals("transcript"):
            me = caller(registry)
            turn = await hive.transcripts.ingest(me.name, turn_key, events)
            return {"ok": True, "turn": turn}

    @tool("Your settings, with the operator's model override if any.")
    async def get_settings() -> dict[str, Any]:
        async with refusals("get_settings"):
            me = caller(registry)
            return {"name": me.name, "role": me.role, "runtime": me.runtime, "model": me.model,
                    "model_override": me.model_override}

    # --- manager only ------------------------------------------------------------
    @tool("Manager: list the hive's agents.")
    async def list_agents() -> dict[str, Any]:
        async with refusals("list_agents"):
            manager()
            return {"agents": [
                {"name": a.name, "role": a.role, "state": a.state, "status": a.status,
                 "model": a.effective_model, "inbox_depth": hive.bus.depth(a.name),
                 "crash_looping": a.crash_looping} for a in registry.all()
            ]}

    @tool("Manager: ask the operator to approve spawning an agent.")
    async def request_spawn(name: str, runtime: str | None = None) -> dict[str, Any]:
        async with refusals("request_spawn"):
            me = manager()
            return _approval(await hive.approvals.request_spawn(me.name, name, runtime))

    @tool("Manager: create a draft config repo and state dir (no container).")
    async def request_spawn_draft(name: str) -> dict[str, Any]:
        async with refusals("request_spawn_draft"):
            me = manager()
            draft = await hive.approvals.request_spawn_draft(me.name, name)
            return {"name": draft.name, "head": draft.head,
                    "config": f"/agents/{draft.name}/config"}

    @tool("Manager: ask the operator to approve spawning a draft at a commit.")
    async def request_spawn_commit(name: str, commit: str) -> dict[str, Any]:
        async with refusals("request_spawn_commit"):
            me = manager()
            return _approval(await hive.approvals.request_spawn_commit(me.name, name, commit))

    @tool("Manager: ask the operator to apply a config commit to an agent.")
    async def request_apply_commit(agent: str, commit: str) -> dict[str, Any]:
        async with refusals("request_apply_commit"):
            me = manager()
            return _approval(await hive.approvals.request_apply_commit(me.name, agent, commit))

    async def _lifecycle_op(op: str, agent: str) -> dict[str, Any]:
        me = manager()
        registry.get(agent)
        if agent == me.name and op in ("stop", "kill"):
            raise HiveError("the manager cannot stop itself; ask the operator")
        await hive.audit.record(me.name, op, agent, "manager tool")
        await getattr(lifecycle(), op)(agent)
        return {"ok": True, "agent": agent, "operation": op}

    @tool("Manager: start an agent's container.")
    async def start(agent: str) -> dict[str, Any]:
        async with refusals("start"):
            return await _lifecycle_op("start", agent)

    @tool("Manager: stop an agent's container.")
    async def stop(agent: str) -> dict[str, Any]:
        async with refusals("stop"):
            return await _lifecycle_op("stop", agent)

    @tool("Manager: restart an agent's container.")
    async def restart(agent: str) -> dict[str, Any]:
        async with refusals("restart"):
            return await _lifecycle_op("restart", agent)

    @tool("Manager: kill an agent's container at once.")
    async def kill(agent: str) -> dict[str, Any]:
        async with refusals("kill"):
            return await _lifecycle_op("kill", agent)

    @tool("Manager: ask the operator a question; the answer arrives later.")
    async def ask_operator(question: str, options: list[str] | None = None) -> dict[str, Any]:
        async with refusals("ask_operator"):
            me = manager()
            q = await hive.questions.ask(me.name, question, options)
            return {"id": q.id, "state": q.state}

    @tool("Manager: the last lines of an agent's container log.")
    async def get_logs(agent: str, lines: int = 50) -> dict[str, Any]:
        async with refusals("get_logs"):
            manager()
            registry.get(agent)
            if not 1 <= lines <= 5000:
                raise HiveError(f"lines must be from 1 to 5000, got {lines}")
            return {"agent": agent, "lines": await lifecycle().backend.logs(agent, lines)}
