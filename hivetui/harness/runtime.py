"""What every agent runtime offers the turn loop, and what a turn gives back."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hivetui.core.errors import ConfigError, HarnessError
from hivetui.core.settings import AgentSettings
from hivetui.harness.client import InboxMessage, Outcome


@dataclass(frozen=True)
class AgentIdentity:
    """``/run/hive/agent.json``: who this harness runs for."""

    name: str
    role: str
    runtime: str
    settings: AgentSettings
    harness: dict[str, Any] = field(default_factory=dict)  # optional loop knobs from the core

    @classmethod
    def load(cls, path: Path) -> AgentIdentity:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise HarnessError(f"{path} is missing: the core writes it before the harness "
                               "starts") from exc
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise HarnessError(f"{path} must be a JSON object with a string 'name'")
        try:
            settings = AgentSettings.checked(data.get("settings") or {})
        except ConfigError as exc:
            raise HarnessError(f"{path}: bad settings: {exc}") from exc
        harness = data.get("harness") or {}
        if not isinstance(harness, dict):
            raise HarnessError(f"{path}: 'harness' must be an object")
        return cls(name=data["name"], role=str(data.get("role") or "worker"),
                   runtime=str(data.get("runtime") or settings.runtime),
                   settings=settings, harness=harness)


@dataclass(frozen=True)
class TurnContext:
    messages: tuple[InboxMessage, ...]
    model: str
    turn_no: int  # 1-based, counted by this harness process


@dataclass
class TurnResult:
    outcome: Outcome
    tool_calls: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0
    runtime_duration_s: float | None = None  # as the runtime itself reported it
    sent_to: Counter[str] = field(default_factory=Counter)  # recipient name -> count
    detail: str = ""
    failure: str = ""  # why a failed turn failed, in the runtime's own words (one line)
    model: str | None = None  # the model that actually ran, when the runtime says
    denials: list[str] = field(default_factory=list)
    waiting_operator: str | None = None  # a question the agent asked the operator this turn
    exit_status: int | None = None  # the harness should exit with this status after the turn


class Runtime(Protocol):
    """One agent runtime (``claude`` or ``scripted:*``)."""

    name: str

    async def run_turn(self, ctx: TurnContext) -> TurnResult:
        """Run one turn; cancellation must stop (kill) everything the turn started."""
        ...

    async def compact_notes(self, notes: str, limit_bytes: int, model: str) -> str:
        """Return a shorter rewrite of the notes (the loop writes it and keeps a .bak)."""
        ...

    async def aclose(self) -> None: ...
