"""The broker's side reading of a response's model and usage (hivetui/broker/usage.py), and
the budget it enforces (settings.toml's budget_usd_per_day)."""

from __future__ import annotations

import json

import pytest

from hivetui.broker.usage import MAX_JSON_BYTES, MAX_LINE_BYTES, UsageReader
from hivetui.core.errors import ConfigError
from hivetui.core.settings import AgentSettings

START = {"type": "message_start", "message": {
    "model": "claude-sonnet-4-5-20250929",
    "usage": {"input_tokens": 10, "cache_read_input_tokens": 500, "output_tokens": 1}}}
DELTA = {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"output_tokens": 42}}


def _event(data: dict[str, object]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def test_a_stream_cut_anywhere_gives_the_same_model_and_final_usage() -> None:
    text = {"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "message_delta usage " * 50}}
    body = _event(START) + _event(text) + _event(DELTA) + b"event: message_stop\n\n"
    for size in (1, 7, 64, len(body)):
        reader = UsageReader(streaming=True)
        for i in range(0, len(body), size):
            reader.feed(body[i:i + size])
        reader.finish()
        assert reader.model == "claude-sonnet-4-5-20250929"
        assert reader.usage == {"input_tokens": 10, "cache_read_input_tokens": 500,
                                "output_tokens": 42}


def test_an_over_long_line_is_skipped_whole_and_reading_goes_on() -> None:
    reader = UsageReader(streaming=True)
    reader.feed(b"data: " + b'"message_start"' + b"x" * (MAX_LINE_BYTES + 10))
    reader.feed(b"y" * 100 + b"\n" + _event(DELTA))
    assert reader.usage == {"output_tokens": 42} and reader.model == ""


def test_a_plain_answer_is_read_at_its_end_and_an_oversized_one_not_at_all() -> None:
    answer = json.dumps({"model": "claude-haiku-4-5", "usage": {"input_tokens": 3}}).encode()
    reader = UsageReader(streaming=False)
    reader.feed(answer[:5])
    reader.feed(answer[5:])
    reader.finish()
    assert (reader.model, reader.usage) == ("claude-haiku-4-5", {"input_tokens": 3})
    big = UsageReader(streaming=False)
    big.feed(b" " * MAX_JSON_BYTES)
    big.feed(answer)
    big.feed(answer)
    big.finish()
    assert (big.model, big.usage) == ("", {})
    broken = UsageReader(streaming=False)
    broken.feed(b"{not json")
    broken.finish()
    assert broken.usage == {}


def test_budget_usd_per_day_is_a_number_of_dollars_or_absent() -> None:
    assert AgentSettings.from_toml("").budget_usd_per_day is None
    assert AgentSettings.from_toml("budget_usd_per_day = 5").budget_usd_per_day == 5.0
    kept = AgentSettings(budget_usd_per_day=2.5)
    assert AgentSettings.from_toml(kept.to_toml()) == kept
    for bad in ('"5"', "true", "-1", "nan", "inf", "1e7"):
        with pytest.raises(ConfigError, match="budget_usd_per_day must be a finite number "
                                              "from 0 to 1000000"):
            AgentSettings.from_toml(f"budget_usd_per_day = {bad}")
