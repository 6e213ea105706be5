"""The MCP tools of interfaces.md. Every tool learns its caller from the bearer token.

``register_tools`` registers the tools named in ``only`` (``core.tool_surface`` says which
endpoint serves which): the model's endpoint never has the harness's tools.

Signatures are typed (``Literal`` vocabularies, ``Annotated`` ranges, the hive's name
patterns), so the MCP schema tells clients the rules and the SDK refuses what breaks them
before a tool runs (one line, see ``hivetui.bridge.server.ToolServer``). ``@tool`` does what
every tool needs: it finds the verified caller (and, for a manager tool, refuses anyone
else) and passes it as the first argument, and turns the hive's refusals into tool errors.

Annotations are evaluated where they are written (no ``from __future__ import
annotations`` here): the ranges that come from the configuration are closed over.
"""

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from hivetui.bridge.auth import caller
from hivetui.bridge.disconnect import client_gone
from hivetui.core.errors import ContainerError, HiveError, PermissionDenied
from hivetui.core.events import StatusChanged, TurnFailed
from hivetui.core.fieldtypes import AgentName, RuntimeName
from hivetui.core.hive import Hive
from hivetui.core.kinds import MessageKind, ReportedStatus, TurnOutcome
from hivetui.core.lifecycle import Lifecycle
from hivetui.core.registry import Agent
from hivetui.core.views import Approval

log = logging.getLogger(__name__)

Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
MAX_STATUS_DETAIL = 500
MAX_LOG_LINES = 5000


def _approval(a: Approval) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "agent": a.agent, "commit": a.commit, "state": a.state}


Body = Callable[..., Awaitable[dict[str, Any]]]


def register_tools(server: MCPServer, hive: Hive, only: Collection[str]) -> None:
    registry = hive.registry
    bus = hive.config.bus

    def tool(description: str, *, manager_only: bool = False) -> Callable[[Body], Body]:
        """Register ``body(me, ...)`` as a tool: ``me`` is the verified caller (a manager
        for a manager tool); the hive's refusals become tool errors naming the rule."""
        def register(body: Body) -> Body:
            @functools.wraps(body)
            async def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
                try:
                    me = caller(registry)
                    if manager_only and me.role != "manager":
                        raise PermissionDenied(
                            f"{me.name} is a worker: this tool is for the manager only")
                    return await body(me, *args, **kwargs)
                except HiveError as exc:
                    log.info("bridge: %s refused: %s", body.__name__, exc)
                    raise ToolError(f"{exc.title}: {exc.message}") from exc
            signature = inspect.signature(body)
            run.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=list(signature.parameters.values())[1:])
            run.__annotations__ = {k: v for k, v in body.__annotations__.items() if k != "me"}
            if body.__name__ in only:
                server.tool(description=description)(run)
            return run
        return register

    def lifecycle() -> Lifecycle:
        if hive.lifecycle is None:
            raise ContainerError("this hive runs without a container backend")
        return hive.lifecycle

    # --- every agent -----------------------------------------------------------
    @tool("Send a message to an agent or to 'operator'. A retry with the same "
          "idempotency_key (any text unique to this message) sends it once.")
    async def send(me: Agent, to: str, body: str, idempotency_key: str | None = None
                   ) -> dict[str, Any]:
        msg = await hive.bus.send(me.name, to, body, idempotency_key)
        return {"id": msg.id, "depth": hive.bus.depth(to)}

    @tool("Receive messages from your inbox, waiting up to wait_s seconds. "
          "With ack (the id of the last message you fully handled) messages stay "
          "in the inbox until acknowledged, so none is lost if you die mid-turn.")
    async def recv(me: Agent, ctx: Context, wait_s: Seconds = 0.0,
                   max: Annotated[int, Field(ge=1, le=bus.max_recv_batch)] = 20,
                   ack: Count | None = None) -> dict[str, Any]:
        if wait_s > 0 and not hive.bus.depth(me.name):
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
    async def ack(me: Agent, upto: Count) -> dict[str, Any]:
        await hive.bus.ack(me.name, upto)
        return {"ok": True, "depth": hive.bus.depth(me.name)}

    @tool("Report your own status: idle, in_turn or waiting_operator.")
    async def set_status(me: Agent, status: ReportedStatus,
                         detail: Annotated[str, Field(max_length=MAX_STATUS_DETAIL)] = ""
                         ) -> dict[str, Any]:
        await registry.update(me.name, status=status, status_detail=detail)
        hive.hub.publish(StatusChanged(agent=me.name, status=status, detail=detail))
        return {"ok": True}

    @tool("Report the end of a turn (telemetry). A failed turn names its messages and "
          "why it failed: they stay in the inbox, and go to the dead after "
          "harness.max_attempts failed turns.")
    async def report_turn(me: Agent, outcome: TurnOutcome, duration_s: Seconds,
                          tool_calls: dict[str, Count] | None = None, cost_usd: Seconds = 0.0,
                          sent: dict[MessageKind, Count] | None = None,
                          received: dict[MessageKind, Count] | None = None,
                          notes_bytes: Count = 0, detail: str = "",
                          messages: list[Annotated[int, Field(ge=1)]] | None = None,
                          failure: str = "") -> dict[str, Any]:
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
    async def transcript(me: Agent, turn_key: str, events: list[dict[str, Any]]
                         ) -> dict[str, Any]:
        turn = await hive.transcripts.ingest(me.name, turn_key, events)
        return {"ok": True, "turn": turn}

    @tool("Your settings, with the operator's model override if any.")
    async def get_settings(me: Agent) -> dict[str, Any]:
        return {"name": me.name, "role": me.role, "runtime": me.runtime, "model": me.model,
                "model_override": me.model_override}

    # --- manager only ------------------------------------------------------------
    @tool("Manager: list the hive's agents.", manager_only=True)
    async def list_agents(me: Agent) -> dict[str, Any]:
        return {"agents": [
            {"name": a.name, "role": a.role, "state": a.state, "status": a.status,
             "model": a.effective_model, "inbox_depth": hive.bus.depth(a.name),
             "crash_looping": a.crash_looping} for a in registry.all()
        ]}

    @tool("Manager: ask the operator to approve spawning an agent.", manager_only=True)
    async def request_spawn(me: Agent, name: AgentName, runtime: RuntimeName | None = None
                            ) -> dict[str, Any]:
        return _approval(await hive.approvals.request_spawn(me.name, name, runtime))

    @tool("Manager: create a draft config repo and state dir (no container).",
          manager_only=True)
    async def request_spawn_draft(me: Agent, name: AgentName) -> dict[str, Any]:
        draft = await hive.approvals.request_spawn_draft(me.name, name)
        return {"name": draft.name, "head": draft.head, "config": f"/agents/{draft.name}/config"}

    @tool("Manager: ask the operator to approve spawning a draft at a commit.",
          manager_only=True)
    async def request_spawn_commit(me: Agent, name: AgentName, commit: str) -> dict[str, Any]:
        return _approval(await hive.approvals.request_spawn_commit(me.name, name, commit))

    @tool("Manager: ask the operator to apply a config commit to an agent.", manager_only=True)
    async def request_apply_commit(me: Agent, agent: AgentName, commit: str) -> dict[str, Any]:
        return _approval(await hive.approvals.request_apply_commit(me.name, agent, commit))

    async def _lifecycle_op(me: Agent, op: str, agent: str) -> dict[str, Any]:
        registry.get(agent)
        if agent == me.name and op in ("stop", "kill"):
            raise HiveError("the manager cannot stop itself; ask the operator")
        await hive.audit.record(me.name, op, agent, "manager tool")
        await getattr(lifecycle(), op)(agent)
        return {"ok": True, "agent": agent, "operation": op}

    def lifecycle_tool(op: str, description: str) -> None:
        async def body(me: Agent, agent: AgentName) -> dict[str, Any]:
            return await _lifecycle_op(me, op, agent)
        body.__name__ = body.__qualname__ = op
        tool(description, manager_only=True)(body)

    lifecycle_tool("start", "Manager: start an agent's container.")
    lifecycle_tool("stop", "Manager: stop an agent's container.")
    lifecycle_tool("restart", "Manager: restart an agent's container.")
    lifecycle_tool("kill", "Manager: kill an agent's container at once.")

    @tool("Manager: ask the operator a question; the answer arrives later.", manager_only=True)
    async def ask_operator(me: Agent, question: str, options: list[str] | None = None
                           ) -> dict[str, Any]:
        q = await hive.questions.ask(me.name, question, options)
        return {"id": q.id, "state": q.state}

    @tool("Manager: the last lines of an agent's container log.", manager_only=True)
    async def get_logs(me: Agent, agent: AgentName,
                       lines: Annotated[int, Field(ge=1, le=MAX_LOG_LINES)] = 50
                       ) -> dict[str, Any]:
        registry.get(agent)
        return {"agent": agent, "lines": await lifecycle().backend.logs(agent, lines)}
