"""Plain records the operator surfaces exchange (embedded or across the control socket)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Self

from hivetui.core.kinds import (
    AgentRole,
    AgentState,
    AgentStatus,
    ApprovalKind,
    ApprovalState,
    QuestionState,
)


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs = {}
        for key, value in data.items():
            if key in fields:
                kwargs[key] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)


@dataclass(frozen=True)
class AgentView(_Record):
    name: str
    role: AgentRole
    runtime: str
    model: str
    model_override: str | None
    state: AgentState
    status: AgentStatus
    status_detail: str
    crash_looping: bool
    created_at: float
    last_turn_at: float | None
    inbox_depth: int
    flags: tuple[str, ...] = ()
    dead_letters: int = 0  # messages set aside after harness.max_attempts failed turns
    # its API use today (UTC), counted by the credential broker, and its settings' budget
    api_requests_today: int = 0
    api_input_tokens_today: int = 0
    api_output_tokens_today: int = 0
    spent_today_usd: float = 0.0
    budget_usd_per_day: float | None = None

    #: "private" (its own namespace, egress through the proxy) or "host" (settings.toml's
    #: ``network = "host"``: the fleet flags it)
    network: str = "private"
    egress_denied: int = 0  # egress proxy refusals since this core started
    action: str = ""  # in a turn: what it does now ("Bash: pytest -q", "thinking…")
    action_since: float | None = None

    @property
    def api_today(self) -> str:
        """"0.42 of 5.00 USD, 12 requests, 3400 in / 800 out tokens" ("" before any use)."""
        budget = f" of {self.budget_usd_per_day:.2f}" if self.budget_usd_per_day is not None \
            else ""
        if not self.api_requests_today and not budget:
            return ""
        return (f"{self.spent_today_usd:.2f}{budget} USD, {self.api_requests_today} requests, "
                f"{self.api_input_tokens_today} in / {self.api_output_tokens_today} out tokens")

    @property
    def effective_model(self) -> str:
        return self.model_override or self.model


@dataclass(frozen=True)
class Approval(_Record):
    id: int
    kind: ApprovalKind
    agent: str
    commit: str
    diff: str
    detail: str
    state: ApprovalState
    requested_by: str
    created_at: float
    resolved_at: float | None = None
    resolved_by: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Question(_Record):
    id: int
    agent: str
    question: str
    options: tuple[str, ...]
    state: QuestionState
    answer: str | None
    created_at: float
    answered_at: float | None = None
    answered_by: str | None = None


@dataclass(frozen=True)
class AuditEntry(_Record):
    id: int
    ts: float
    actor: str
    action: str
    target: str
    detail: str
    commit: str


@dataclass(frozen=True)
class Draft(_Record):
    name: str
    head: str  # latest commit of the proposed repo
    created_at: float
