"""The hive's closed vocabularies, one source each.

Each is a ``Literal`` type (for signatures, records and the MCP and JSON schemas) with its
values as a tuple (``typing.get_args``) for code that lists or checks them. Plain typing:
this module runs where pydantic is not installed.
"""

from __future__ import annotations

from typing import Literal, get_args

#: Who a message is from, as its recipient sees it (``names.OPERATOR`` and ``SYSTEM`` are
#: the participants that are not agents).
MessageKind = Literal["peer", "operator", "manager", "system"]
MESSAGE_KINDS: tuple[MessageKind, ...] = get_args(MessageKind)

AgentRole = Literal["manager", "worker"]
AgentState = Literal["created", "running", "stopped", "crashed", "destroyed"]
AGENT_STATES: tuple[AgentState, ...] = get_args(AgentState)
#: What an agent says of itself; ``offline`` is the hive's, never reported.
ReportedStatus = Literal["idle", "in_turn", "waiting_operator"]
AgentStatus = Literal[ReportedStatus, "offline"]
AGENT_STATUSES: tuple[AgentStatus, ...] = (*get_args(ReportedStatus), "offline")

ApprovalKind = Literal["spawn", "spawn_commit", "apply_commit"]
APPROVAL_KINDS: tuple[ApprovalKind, ...] = get_args(ApprovalKind)
SPAWN_KINDS: tuple[ApprovalKind, ...] = ("spawn", "spawn_commit")
ApprovalState = Literal["pending", "approved", "denied", "failed"]
#: How an approval ended, as the manager is told (failed: approved, then a step failed).
ApprovalResult = Literal["approved", "denied", "failed"]

QuestionState = Literal["pending", "answered"]

TurnOutcome = Literal["ok", "compact_retry", "failure"]
TURN_OUTCOMES: tuple[TurnOutcome, ...] = get_args(TurnOutcome)
