"""Turn transcript events: their shape, their limits, and their one-line summaries.

An event is a JSON object ``{"kind": K, "ts": T, ...}``; the kinds and their fields:

- ``prompt``: ``text`` (what the turn answers), ``model``, ``messages`` (their ids)
- ``text``: ``text`` (assistant text)
- ``tool_call``: ``id``, ``name``, ``input`` (an object)
- ``tool_result``: ``id``, ``text``, ``size`` (the full result's characters),
  ``truncated`` (the text is a head of it), ``is_error``
- ``error``: ``text``; ``compact``: ``text`` (the runtime compacted its context)
- ``dropped``: ``count`` (events that never arrived: the stream fell behind)
- ``end``: ``outcome``, ``duration_s``, ``cost_usd``, ``tokens_in``, ``tokens_out``,
  ``cache_read``, ``cache_write``

The harness emits them (``hivetui/harness/transcript.py``), truncating large texts in
transit; the core checks every field again (an agent is untrusted) with :func:`clean_event`.
This module is pure: the harness, the core, ``ctl`` and the TUI share it.
"""

from __future__ import annotations

import json
import math
from typing import Any

KINDS = ("prompt", "text", "tool_call", "tool_result", "error", "compact", "dropped", "end")
#: a tool result's text travels cut to this many characters (its full size is noted)
RESULT_KEEP_CHARS = 4000
#: any other text field is cut to this many characters
TEXT_KEEP_CHARS = 16000
#: a tool call's input, as JSON, is cut (each string value) to this many characters
INPUT_KEEP_CHARS = 4000
#: events one ``transcript`` call may carry
MAX_BATCH = 500
END_NUMBERS = ("duration_s", "cost_usd", "tokens_in", "tokens_out", "cache_read",
               "cache_write")
THINKING = "thinking…"


class TranscriptRefused(ValueError):
    """An event the core does not take (the message names the field and the rule)."""


def cut(text: str, keep: int) -> tuple[str, bool]:
    """``text`` cut to ``keep`` characters, and whether it was cut."""
    return (text, False) if len(text) <= keep else (text[:keep], True)


def _cut_value(value: Any, keep: int, depth: int = 0) -> Any:
    """A JSON value with every string cut to ``keep`` and nesting kept to 6 levels."""
    if isinstance(value, str):
        return cut(value, keep)[0]
    if depth >= 6:
        return "…"
    if isinstance(value, dict):
        return {str(k)[:200]: _cut_value(v, keep, depth + 1)
                for k, v in list(value.items())[:100]}
    if isinstance(value, list):
        return [_cut_value(v, keep, depth + 1) for v in value[:100]]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)[:keep]


def result_event(tool_id: str, text: str, is_error: bool, ts: float) -> dict[str, Any]:
    """A ``tool_result`` event, its text cut for transit with the full size kept."""
    head, truncated = cut(text, RESULT_KEEP_CHARS)
    return {"kind": "tool_result", "ts": ts, "id": tool_id, "text": head, "size": len(text),
            "truncated": truncated, "is_error": is_error}


def call_event(tool_id: str, name: str, tool_input: Any, ts: float) -> dict[str, Any]:
    inp = tool_input if isinstance(tool_input, dict) else {"value": tool_input}
    return {"kind": "tool_call", "ts": ts, "id": tool_id, "name": name,
            "input": _cut_value(inp, INPUT_KEEP_CHARS)}


def _text(event: dict[str, Any], key: str, keep: int = TEXT_KEEP_CHARS) -> str:
    value = event.get(key, "")
    if not isinstance(value, str):
        raise TranscriptRefused(f"{event.get('kind')} event: {key} must be a string")
    return cut(value, keep)[0]


def _number(event: dict[str, Any], key: str) -> float:
    value = event.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 <= value < 1e12:
        raise TranscriptRefused(f"{event.get('kind')} event: {key} must be a number from 0 "
                                f"to 1e12, got {str(value)[:40]!r}")
    return float(value)


def clean_event(raw: Any, now: float) -> dict[str, Any]:
    """The event as the core keeps it: known kind, known fields, bounded sizes.

    ``ts`` is the core's own clock (``now``): an agent's clock says nothing reliable.
    """
    if not isinstance(raw, dict):
        raise TranscriptRefused("each transcript event must be an object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise TranscriptRefused(f"event kind must be one of {', '.join(KINDS)}, "
                                f"got {str(kind)[:40]!r}")
    out: dict[str, Any] = {"kind": kind, "ts": now}
    if kind in ("text", "error", "compact"):
        out["text"] = _text(raw, "text")
    elif kind == "prompt":
        out["text"] = _text(raw, "text")
        out["model"] = _text(raw, "model", 100)
        ids = raw.get("messages", [])
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise TranscriptRefused("prompt event: messages must be a list of message ids")
        out["messages"] = ids[:100]
    elif kind == "tool_call":
        out["id"] = _text(raw, "id", 100)
        out["name"] = _text(raw, "name", 200)
        out["input"] = _cut_value(raw.get("input") if isinstance(raw.get("input"), dict)
                                  else {}, INPUT_KEEP_CHARS)
    elif kind == "tool_result":
        out["id"] = _text(raw, "id", 100)
        full = _text(raw, "text", len(str(raw.get("text", ""))))
        text = cut(full, RESULT_KEEP_CHARS)[0]
        out["text"] = text
        out["size"] = max(int(_number(raw, "size")), len(full))
        out["truncated"] = bool(raw.get("truncated")) or out["size"] > len(text)
        out["is_error"] = bool(raw.get("is_error"))
    elif kind == "dropped":
        out["count"] = int(_number(raw, "count"))
    else:  # end
        out["outcome"] = _text(raw, "outcome", 40)
        for key in END_NUMBERS:
            out[key] = _number(raw, key)
    return out


# --- one-line summaries: the compact rendering and the fleet's current action ----------

def _first_line(text: str, width: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


def _lines(text: Any) -> int:
    return len(text.splitlines()) if isinstance(text, str) and text else 0


def tool_summary(name: str, tool_input: dict[str, Any]) -> str:
    """``Bash: git status``, ``Edit prompt.md +3 −1``, ``send → bob: hello``…"""
    short = name.removeprefix("mcp__hive__")
    path = tool_input.get("file_path") or tool_input.get("path") or ""
    base = str(path).rsplit("/", 1)[-1] if path else ""
    if name == "Bash":
        return f"Bash: {_first_line(str(tool_input.get('command', '')))}"
    if name in ("Edit", "MultiEdit"):
        edits = tool_input.get("edits") if name == "MultiEdit" else [tool_input]
        added = removed = 0
        for edit in edits if isinstance(edits, list) else []:
            if isinstance(edit, dict):
                added += _lines(edit.get("new_string"))
                removed += _lines(edit.get("old_string"))
        return f"{name} {base} +{added} −{removed}"
    if name == "Write":
        return f"Write {base} ({_lines(tool_input.get('content'))} lines)"
    if name in ("Read", "NotebookRead", "NotebookEdit"):
        return f"{name} {base}"
    if name in ("Grep", "Glob"):
        return f"{name}: {_first_line(str(tool_input.get('pattern', '')))}"
    if short == "send":
        return f"send → {tool_input.get('to', '?')}: {_first_line(str(tool_input.get('body', '')))}"
    for value in tool_input.values():
        if isinstance(value, str) and value.strip():
            return f"{short}: {_first_line(value)}"
    return short


def summary(event: dict[str, Any]) -> str:
    """One line for any event (the compact transcript line, the grep hit)."""
    kind = event.get("kind")
    if kind == "tool_call":
        return tool_summary(str(event.get("name", "?")), event.get("input") or {})
    if kind == "tool_result":
        size, text = event.get("size", 0), str(event.get("text", ""))
        cut_note = f" (cut, {size} chars in all)" if event.get("truncated") else ""
        mark = "error" if event.get("is_error") else "result"
        return f"  ↳ {mark}: {_first_line(text, 70)}{cut_note}"
    if kind == "dropped":
        return f"… {event.get('count', 0)} events dropped (the stream fell behind) …"
    if kind == "end":
        return f"end: {event.get('outcome')} in {event.get('duration_s', 0):.1f}s, " \
               f"{cost_line(event)}"
    if kind == "prompt":
        return f"prompt: {_prompt_line(str(event.get('text', '')))}"
    label = {"text": "", "error": "error", "compact": "compacted"}.get(str(kind), str(kind))
    text = _first_line(str(event.get("text", "")), 100)
    return f"{label}: {text}" if label else text


def _prompt_line(text: str) -> str:
    """A turn prompt's first message as ``boss: Please take…`` (``format_messages``'s
    ``[message N from NAME (kind) at T]`` line, then the body), else its first line."""
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.startswith("[message ") and " from " in line:
            sender = line.split(" from ", 1)[1].split(" ", 1)[0]
            more = sum(1 for rest in lines[index + 1:] if rest.startswith("[message "))
            tail = f" (+{more} more)" if more else ""
            return f"{sender}: {_first_line(lines[index + 1], 90)}{tail}"
    return _first_line(text, 100)


def cost_line(end: dict[str, Any]) -> str:
    """``$0.0123 · 1,204 in / 310 out tokens`` from an ``end`` event (or a turn header)."""
    tokens_in = int(end.get("tokens_in", 0) or 0)
    cached = int(end.get("cache_read", 0) or 0) + int(end.get("cache_write", 0) or 0)
    cache = f" (+{cached:,} cache)" if cached else ""
    return (f"${float(end.get('cost_usd', 0) or 0):.4f} · {tokens_in:,} in{cache} / "
            f"{int(end.get('tokens_out', 0) or 0):,} out tokens")


def action_of(event: dict[str, Any]) -> str | None:
    """The current action an event leaves the agent in (None: the turn is over)."""
    kind = event.get("kind")
    if kind == "end":
        return None
    if kind == "tool_call":
        return summary(event)
    if kind == "compact":
        return "compacting…"
    return THINKING


def expanded(event: dict[str, Any]) -> str:
    """Every field of an event, for the expanded view (Enter) and ``--markdown``."""
    kind = event.get("kind")
    if kind == "tool_call":
        return _call_body(str(event.get("name", "")), event.get("input") or {})
    if kind in ("tool_result", "text", "prompt", "error", "compact"):
        text = str(event.get("text", ""))
        if event.get("truncated"):
            text += f"\n… (cut in transit: {event.get('size')} characters in all)"
        return text
    return summary(event)


def _call_body(name: str, tool_input: dict[str, Any]) -> str:
    """A call in full: a command as it ran, an edit as removed and added lines, else JSON."""
    if name == "Bash" and isinstance(tool_input.get("command"), str):
        return "$ " + str(tool_input["command"])
    if name == "Edit" and isinstance(tool_input.get("old_string"), str) and \
            isinstance(tool_input.get("new_string"), str):
        return "\n".join([str(tool_input.get("file_path", "")),
                          *("- " + line for line in tool_input["old_string"].splitlines()),
                          *("+ " + line for line in tool_input["new_string"].splitlines())])
    return json.dumps(tool_input, indent=2, ensure_ascii=False)


def searchable(event: dict[str, Any]) -> str:
    """The content of an event a search looks in (not its JSON keys)."""
    parts = [str(event.get(k, "")) for k in ("text", "name")]
    if isinstance(event.get("input"), dict):
        parts.append(json.dumps(event["input"], ensure_ascii=False))
    return "\n".join(parts)
