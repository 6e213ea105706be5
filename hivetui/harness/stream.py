"""Parser for ``claude -p --output-format stream-json --verbose`` (one JSON event a line).

Fed line by line while the run goes on; keeps what a turn report needs: tool calls per tool,
recipients of hive ``send`` calls, operator questions, MCP server status at init, the final
``result`` (cost, duration, denials, terminal reason).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hivetui.core.transcript_format import call_event, result_event
from hivetui.harness.transcript import Emit, no_emit

log = logging.getLogger(__name__)

HIVE_SERVER = "hive"
HIVE_SEND = f"mcp__{HIVE_SERVER}__send"
HIVE_ASK = f"mcp__{HIVE_SERVER}__ask_operator"
PROMPT_TOO_LONG = "Prompt is too long"


@dataclass
class StreamStats:
    session_id: str | None = None
    model: str | None = None
    mcp_servers: dict[str, str] = field(default_factory=dict)  # name -> status at init
    tool_calls: Counter[str] = field(default_factory=Counter)
    sent_to: Counter[str] = field(default_factory=Counter)
    questions: list[str] = field(default_factory=list)
    compactions: int = 0
    result: dict[str, Any] | None = None
    bad_lines: int = 0
    events: int = 0

    # --- the final result -----------------------------------------------------------
    @property
    def is_error(self) -> bool:
        return self.result is None or bool(self.result.get("is_error"))

    @property
    def subtype(self) -> str:
        return str((self.result or {}).get("subtype") or "")

    @property
    def result_text(self) -> str:
        value = (self.result or {}).get("result")
        return value if isinstance(value, str) else ""

    @property
    def cost_usd(self) -> float:
        value = (self.result or {}).get("total_cost_usd")
        return float(value) if isinstance(value, int | float) else 0.0

    @property
    def duration_ms(self) -> float:
        value = (self.result or {}).get("duration_ms")
        return float(value) if isinstance(value, int | float) else 0.0

    @property
    def tokens(self) -> dict[str, int]:
        """The result's ``usage`` as tokens_in, tokens_out, cache_read, cache_write."""
        usage = (self.result or {}).get("usage")
        if not isinstance(usage, dict):
            return {}
        names = {"tokens_in": "input_tokens", "tokens_out": "output_tokens",
                 "cache_read": "cache_read_input_tokens",
                 "cache_write": "cache_creation_input_tokens"}
        return {ours: int(usage[theirs]) for ours, theirs in names.items()
                if isinstance(usage.get(theirs), int) and usage[theirs] >= 0}

    @property
    def terminal_reason(self) -> str:
        return str((self.result or {}).get("terminal_reason") or "")

    @property
    def prompt_too_long(self) -> bool:
        return self.terminal_reason == "prompt_too_long" or PROMPT_TOO_LONG in self.result_text

    @property
    def denials(self) -> list[str]:
        """Denied tool uses as ``Tool(short input)`` strings."""
        out = []
        for item in (self.result or {}).get("permission_denials") or []:
            if not isinstance(item, dict):
                continue
            name = str(item.get("tool_name") or "?")
            inp = item.get("tool_input")
            hint = ""
            if isinstance(inp, dict):
                hint = str(inp.get("command") or inp.get("file_path") or inp.get("path") or "")
            out.append(f"{name}({hint[:60]})" if hint else name)
        return out

    def failed_servers(self) -> list[str]:
        return sorted(n for n, s in self.mcp_servers.items() if s == "failed")


class StreamParser:
    """Feed it lines; ``on_init`` sees the init event as soon as it arrives, ``emit`` each
    transcript event (``core.transcript_format``) as its line arrives."""

    def __init__(self, on_init: Callable[[StreamStats], None] | None = None,
                 emit: Emit = no_emit) -> None:
        self.stats = StreamStats()
        self._on_init = on_init
        self._emit = emit
        self._pending: dict[str, tuple[str, dict[str, Any]]] = {}

    def feed(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            self.stats.bad_lines += 1
            log.warning("claude printed a non-JSON line: %.200s", line)
            return
        if not isinstance(event, dict):
            self.stats.bad_lines += 1
            return
        self.stats.events += 1
        kind = event.get("type")
        if kind == "system":
            self._system(event)
        elif kind == "assistant":
            self._assistant(event)
        elif kind == "user":
            self._user(event)
        elif kind == "result":
            self.stats.result = event
            if event.get("session_id"):
                self.stats.session_id = str(event["session_id"])
            if self.stats.is_error:
                self._emit({"kind": "error", "ts": time.time(),
                            "text": self.stats.result_text or self.stats.subtype or "error"})

    def _system(self, event: dict[str, Any]) -> None:
        subtype = event.get("subtype")
        if subtype == "init":
            self.stats.session_id = str(event.get("session_id") or "") or None
            self.stats.model = str(event.get("model") or "") or None
            for server in event.get("mcp_servers") or []:
                if isinstance(server, dict) and server.get("name"):
                    self.stats.mcp_servers[str(server["name"])] = str(server.get("status"))
            if self._on_init is not None:
                self._on_init(self.stats)
        elif subtype == "compact_boundary":
            self.stats.compactions += 1
            meta = event.get("compact_metadata")
            tokens = meta.get("pre_tokens") if isinstance(meta, dict) else None
            self._emit({"kind": "compact", "ts": time.time(),
                        "text": f"context compacted (from {tokens} tokens)" if tokens
                        else "context compacted"})
        elif subtype == "status" and event.get("status") == "compacting":
            log.info("claude is compacting its context")

    def _assistant(self, event: dict[str, Any]) -> None:
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            return
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                self._emit({"kind": "text", "ts": time.time(), "text": block["text"]})
            if block.get("type") != "tool_use":
                continue
            name = str(block.get("name") or "?")
            self.stats.tool_calls[name] += 1
            inp = block.get("input")
            self._emit(call_event(str(block.get("id") or ""), name, inp, time.time()))
            if name in (HIVE_SEND, HIVE_ASK) and isinstance(inp, dict):
                self._pending[str(block.get("id"))] = (name, inp)

    def _user(self, event: dict[str, Any]) -> None:
        """Tool results: a hive send or question counts once it succeeded."""
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            return
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            self._emit(result_event(str(block.get("tool_use_id") or ""),
                                    result_text(block.get("content")),
                                    bool(block.get("is_error")), time.time()))
            pending = self._pending.pop(str(block.get("tool_use_id")), None)
            if pending is None or block.get("is_error"):
                continue
            name, inp = pending
            if name == HIVE_SEND and isinstance(inp.get("to"), str):
                self.stats.sent_to[inp["to"]] += 1
            elif name == HIVE_ASK and isinstance(inp.get("question"), str):
                self.stats.questions.append(inp["question"])


def result_text(content: Any) -> str:
    """A tool_result's content as text: a string, or its text blocks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text") if isinstance(b, dict) and b.get("type") == "text"
                 else f"[{b.get('type')}]" if isinstance(b, dict) else str(b) for b in content]
        return "\n".join(p for p in parts if isinstance(p, str))
    return "" if content is None else str(content)
