"""Runtimes and model names are checked when they are requested (issue 15): an unknown
runtime used to be accepted and fail only in the container; ``set_model`` took NUL and
control characters. Each refusal is one line naming the rule, the input echoed bounded."""

from __future__ import annotations

import pytest

from hivetui.core.errors import ConfigError, HiveError
from hivetui.core.hive import Hive
from hivetui.core.names import MODEL_RULE, RUNTIME_RULE
from hivetui.core.operator import Operator, OperatorSession
from hivetui.core.settings import AgentSettings
from tests.fakes.memory_backend import FakeMemoryBackend


def one_line(exc: HiveError) -> str:
    assert "\n" not in exc.message and "\x00" not in exc.message
    assert "\x1b" not in exc.message
    return exc.message


async def test_an_unknown_runtime_is_refused_at_request_time(hive: Hive) -> None:
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    with pytest.raises(HiveError) as refused:
        await hive.approvals.request_spawn("boss", "w1", "scripted:nope")
    assert RUNTIME_RULE in one_line(refused.value)
    assert await hive.approvals.query() == []
    approval = await hive.approvals.request_spawn("boss", "w1", "scripted:crash-after:2")
    assert approval.agent == "w1"


async def test_an_operator_spawn_with_an_unknown_runtime_creates_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with Hive(tmp_path / "state", backend=FakeMemoryBackend()) as hive:
        api = OperatorSession(hive, Operator("tester"))
        with pytest.raises(HiveError) as refused:
            await api.spawn("w1", "claude-code")
        assert "unknown runtime 'claude-code'" in one_line(refused.value)
        assert hive.registry.find("w1") is None


@pytest.mark.parametrize("model", ["a\x00b", "x\x1b]2;t\x07", "two words", "", "m" * 101,
                                   "tab\there", "c1\x9bm"])
async def test_set_model_refuses_controls_and_spaces(hive: Hive, model: str) -> None:
    await hive.registry.create("w1", runtime="scripted:echo", model="m")
    api = OperatorSession(hive, Operator("tester"))
    with pytest.raises(HiveError) as refused:
        await api.set_model("w1", model)
    message = one_line(refused.value)
    assert MODEL_RULE in message and len(message) < 300
    assert hive.registry.get("w1").model_override is None
    view = await api.set_model("w1", "claude-opus-4-1[1m]")
    assert view.effective_model == "claude-opus-4-1[1m]"


@pytest.mark.parametrize(("key", "value"), [("runtime", "bash"), ("model", "evil\\u001b[31m")])
def test_a_proposed_settings_file_names_the_bad_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        AgentSettings.from_toml(f'{key} = "{value}"\n')
    assert one_line(refused.value).startswith(f"settings key {key}: ")
