"""`hivetui ctl transcript NAME [--turn N] [--follow] [--json | --markdown]`.

Kept apart from the command-line parsing so any CLI front end can call :func:`show`.

- plain: a header line per turn (number, outcome, cost and tokens), then one compact line
  per event (``Bash: git status``, a result's first line);
- ``--json``: JSON lines, a ``{"kind": "turn", ...}`` header object then each event with
  ``agent`` and ``turn`` added;
- ``--markdown``: a section per turn, tool calls and results in fenced blocks, all of it.

``--follow`` starts from the newest turn and prints events as they come until interrupted;
a viewer that falls behind sees the core's ``N events dropped`` line. Every text an agent
wrote passes through ``core.visible`` before it is printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from hivetui.core.api import HiveAPI
from hivetui.core.errors import HiveError
from hivetui.core.transcript_format import cost_line, expanded, summary
from hivetui.core.visible import json_visible, visible, visible_line

FORMATS = ("text", "json", "markdown")
_GLYPHS = {"prompt": "▶ ", "tool_call": "⚙ ", "error": "✗ ", "compact": "⇲ ",
           "dropped": "… ", "end": "■ "}


class Printer:
    """Writes one turn's header and events in one of :data:`FORMATS`."""

    def __init__(self, agent: str, fmt: str, write: Callable[[str], None]) -> None:
        if fmt not in FORMATS:
            raise HiveError(f"transcript format must be one of {', '.join(FORMATS)}")
        self.agent = agent
        self.fmt = fmt
        self.write = write
        self.turn: int | None = None

    def header(self, header: dict[str, Any]) -> None:
        self.turn = int(header["turn"])
        if self.fmt == "json":
            self.write(_json({"kind": "turn", **header}))
            return
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(header["started_at"])) \
            if header.get("started_at") else "?"
        outcome = header.get("outcome") or "running"
        cost = f" · {cost_line(header)}" if header.get("outcome") else ""
        model = f" · {header['model']}" if header.get("model") else ""
        line = visible_line(f"turn {self.turn} · {outcome}{cost} · started {started}{model}")
        self.write(f"## {self.agent} · {line}\n" if self.fmt == "markdown" else f"== {line}")

    def event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("kind"))
        if self.fmt == "json":
            self.write(_json({"agent": self.agent, "turn": self.turn, **event}))
        elif self.fmt == "markdown":
            self.write(_markdown(event))
        else:
            self.write(_GLYPHS.get(kind, "  ") + visible_line(summary(event)))


def _json(value: dict[str, Any]) -> str:
    return json_visible(json.dumps(value, ensure_ascii=False))


def _fence(text: str) -> str:
    """A fenced block that no backtick run in ``text`` can close early."""
    ticks = "`" * max(3, _longest_ticks(text) + 1)
    return f"{ticks}\n{visible(text)}\n{ticks}"


def _longest_ticks(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _markdown(event: dict[str, Any]) -> str:
    kind = event.get("kind")
    if kind == "prompt":
        return "**prompt**\n\n" + _fence(str(event.get("text", ""))) + "\n"
    if kind == "text":
        return visible(str(event.get("text", ""))) + "\n"
    if kind in ("tool_call", "tool_result"):
        return f"**{visible_line(summary(event).strip())}**\n\n{_fence(expanded(event))}\n"
    return f"*{visible_line(summary(event))}*\n"


async def show(api: HiveAPI, name: str, *, turn: int | None = None, follow: bool = False,
               fmt: str = "text", write: Callable[[str], None] = print) -> int:
    """Print ``name``'s turn ``turn`` (the newest when None), or follow from the newest."""
    if follow and turn is not None:
        raise HiveError("--follow starts from the newest turn: give --turn or --follow, "
                        "not both")
    printer = Printer(name, fmt, write)
    if not follow:
        data = await api.transcript(name, turn)
        if data["turn"] is None:
            write(_json({"kind": "turn", "turn": None}) if fmt == "json"
                  else f"{name} has no turn in its transcripts yet")
            return 0
        printer.header(data["turn"])
        for event in data["events"]:
            printer.event(event)
        return 0
    async for batch in api.follow_transcript(name):
        header = batch.get("header") if batch.get("snapshot") else None
        if header is not None:
            printer.header(header)
        elif batch.get("turn") and batch["turn"] != printer.turn:
            printer.header({"turn": batch["turn"], "started_at": time.time()})
        for event in batch["events"]:
            printer.event(event)
    return 0
