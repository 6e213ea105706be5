"""The transcript events the harness makes of the REAL CLI's stream-json, recorded into
``tests/fixtures/claude_stream`` by ``tests/fakes/record_claude_stream.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hivetui.core.transcript_format import RESULT_KEEP_CHARS, clean_event, summary
from hivetui.harness.stream import StreamParser
from tests.fakes.record_claude_stream import BASH_COMMAND

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude_stream"


def parse(name: str) -> tuple[StreamParser, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    parser = StreamParser(emit=events.append)
    for line in (FIXTURES / f"{name}.jsonl").read_text().splitlines():
        parser.feed(line)
    return parser, events


def test_a_tool_use_turn_becomes_text_call_cut_result_text() -> None:
    parser, events = parse("tool_use")
    assert [e["kind"] for e in events] == ["text", "tool_call", "tool_result", "text"]
    call, result = events[1], events[2]
    assert call["name"] == "Bash" and call["input"]["command"] == BASH_COMMAND
    assert call["id"] == result["id"]
    assert summary(call) == "Bash: " + BASH_COMMAND
    full = "hello from bash\n" + "\n".join(str(i) for i in range(1, 2001))
    assert result["size"] == len(full) and result["truncated"] and not result["is_error"]
    assert result["text"] == full[:RESULT_KEEP_CHARS]
    assert parser.stats.tokens == {"tokens_in": 240, "tokens_out": 60, "cache_read": 0,
                                   "cache_write": 0}
    assert parser.stats.cost_usd > 0
    # the core takes every event as the harness made it
    assert [clean_event(e, 1.0)["kind"] for e in events] == [e["kind"] for e in events]


def test_an_api_error_turn_ends_with_the_clis_own_words() -> None:
    parser, events = parse("api_error")
    assert [e["kind"] for e in events] == ["text", "error"]
    assert events[1]["text"].startswith("API Error: 500 Internal server error")
    assert parser.stats.is_error
