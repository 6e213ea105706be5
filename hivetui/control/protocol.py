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
}
STREAM_OPS: dict[str, tuple[tuple[str, ...], int]] = {
    "events": ((), 0),
    "follow_logs": (("name",), 1),
}


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
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
