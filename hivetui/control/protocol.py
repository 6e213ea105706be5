"""The control protocol: JSON lines over a unix socket.

Request  ``{"id": 1, "op": "agents", "args": {}}``
Reply    ``{"id": 1, "ok": true, "result": ...}`` or
         ``{"id": 1, "ok": false, "error": {"type", "title", "message"}}``
Streams (``events``, ``follow_logs``) answer ``{"id": N, "item": ...}`` lines until
``{"id": N, "end": true}``; ``{"op": "cancel", "args": {"stream": N}}`` ends one.
The first request may be ``hello`` with a ``session_token`` (SSH sessions); without one
the operator is the local user the socket's peer credentials name.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

MAX_LINE = 16 * 1024 * 1024

#: op name -> (parameter names, required count); the server calls the HiveAPI method.
OPS: dict[str, tuple[tuple[str, ...], int]] = {
    "agents": ((), 0),
    "agent": (("name",), 1),
    "spawn": (("name", "runtime", "manager"), 1),
    "start": (("name",), 1),
    "stop": (("name",), 1),
    "restart": (("name",), 1),
    "destroy": (("name",), 1),
    "rebuild": (("name",), 1),
    "set_model": (("name", "model", "persist"), 2),
    "logs": (("name", "lines"), 1),
    "shell_argv": (("name",), 1),
    "send": (("name", "text"), 2),
    "inbox": (("name", "limit", "dead"), 1),
    "approvals": (("include_resolved",), 0),
    "approve": (("approval_id",), 1),
    "deny": (("approval_id", "reason"), 2),
    "questions": (("include_answered",), 0),
    "answer": (("question_id", "text"), 2),
    "drafts": ((), 0),
    "kept": ((), 0),
    "revive": (("name",), 1),
    "purge": (("name", "confirm"), 2),
    "audit": (("limit",), 0),
    "stats": (("name", "since_s", "keys", "max_points"), 1),
    "recent_events": (("limit",), 0),
}
STREAM_OPS: dict[str, tuple[tuple[str, ...], int]] = {
    "events": ((), 0),
    "follow_logs": (("name",), 1),
}

#: What each argument must be, by name (a name means the same thing in every op):
#: "text", "int" (a 64-bit integer, as the store keeps them), "number", "bool",
#: "texts" (a list of text); a trailing "?" also allows null.
ARG_KINDS: dict[str, str] = {
    "name": "text", "runtime": "text?", "manager": "bool", "model": "text",
    "persist": "bool", "lines": "int", "text": "text", "limit": "int",
    "include_resolved": "bool", "approval_id": "int", "reason": "text",
    "question_id": "int", "include_answered": "bool", "confirm": "text",
    "since_s": "number", "keys": "texts?", "max_points": "int?", "dead": "bool",
}
INT64 = (-(2**63), 2**63 - 1)
_KIND_WORDS = {"text": "a string", "int": "an integer", "number": "a number",
               "bool": "true or false", "texts": "a list of strings"}


def check_arg(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``name`` argument (None: it is)."""
    kind = ARG_KINDS.get(name, "")
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    ok = {
        "text": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "texts": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }.get(kind, True)
    if not ok:
        return f"{name} must be {_KIND_WORDS[kind]}, got {type(value).__name__}"
    if kind == "int" and not INT64[0] <= value <= INT64[1]:
        return (f"{name} must be an integer from {INT64[0]} to {INT64[1]}, "
                f"got one of {len(str(value))} digits")
    return None


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return to_dict() if callable(to_dict) else dataclasses.asdict(value)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def encode(obj: dict[str, Any]) -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate: ASCII JSON's \uXXXX escape carries it
        return json.dumps(obj, separators=(",", ":")).encode("ascii") + b"\n"
