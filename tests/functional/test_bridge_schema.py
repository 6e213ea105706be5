"""The tools' signatures are typed: the MCP schema a client lists carries the rules
(vocabularies as enums, ranges, name patterns), and an argument that breaks one is refused
before the tool runs, in one line naming the argument and the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.config import BusConfig, HiveConfig
from hivetui.core.hive import Hive
from hivetui.core.names import NAME_RULE
from tests.mcp_util import ToolFailed, agent_client


async def test_the_schema_tells_the_rules(tmp_path: Path) -> None:
    config = HiveConfig(bus=BusConfig(max_recv_batch=40))  # a range from the configuration
    async with Hive(tmp_path / "state", config) as hive:
        bridge = Bridge(hive)
        hive.add_service("bridge", bridge.run)
        await bridge.ready()
        await hive.registry.create("boss", role="manager", runtime="scripted:manager",
                                   model="m")
        token = (hive.paths.agent_run("boss") / "token").read_text().strip()
        async with agent_client(bridge.harness_url, token) as boss:
            listed = (await boss.client.list_tools()).tools
    tools = {t.name: t.input_schema["properties"] for t in listed}
    assert tools["set_status"]["status"]["enum"] == ["idle", "in_turn", "waiting_operator"]
    assert tools["set_status"]["detail"]["maxLength"] == 500
    assert tools["report_turn"]["outcome"]["enum"] == ["ok", "compact_retry", "failure"]
    sent = tools["report_turn"]["sent"]["anyOf"][0]
    assert sent["propertyNames"]["enum"] == ["peer", "operator", "manager", "system"]
    assert sent["additionalProperties"]["minimum"] == 0
    assert (tools["recv"]["max"]["minimum"], tools["recv"]["max"]["maximum"]) == (1, 40)
    assert tools["recv"]["wait_s"]["minimum"] == 0
    assert (tools["get_logs"]["lines"]["minimum"], tools["get_logs"]["lines"]["maximum"]) == (
        1, 5000)
    assert tools["request_spawn"]["name"]["pattern"] == NAME_RULE
    assert "scripted:" in tools["request_spawn"]["runtime"]["anyOf"][0]["pattern"]
    assert tools["stop"]["agent"]["pattern"] == NAME_RULE
    assert "ctx" not in tools["recv"] and "me" not in tools["send"]


@pytest.mark.parametrize(("tool", "args", "message"), [
    ("set_status", {"status": "sleeping"},
     "argument status must be one of 'idle', 'in_turn', 'waiting_operator', got 'sleeping'"),
    ("recv", {"max": 0}, "argument max must be an integer from 1 to 100, got 0"),
    ("report_turn", {"outcome": "ok", "duration_s": -1},
     "argument duration_s must be a finite number at least 0, got -1"),
    ("report_turn", {"outcome": "ok", "duration_s": 1, "sent": {"peers": 1}},
     "argument sent"),
    ("set_status", {"status": "idle", "detail": "x" * 501}, "argument detail"),
])
async def test_a_bad_argument_is_refused_in_one_line(hive: Hive, connect: Any, tool: str,
                                                     args: dict[str, Any], message: str) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    async with connect("alice") as alice:
        with pytest.raises(ToolFailed) as err:
            await alice.call(tool, **args)
    text = str(err.value)
    assert text.startswith(f"Error executing tool {tool}: ") and message in text, text
    assert "\n" not in text and len(text) < 400


async def test_manager_tools_still_refuse_a_worker_by_role(hive: Hive, connect: Any) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    async with connect("alice") as alice:
        with pytest.raises(ToolFailed, match="alice is a worker: this tool is for the manager "
                                             "only"):
            await alice.call("get_logs", agent="alice", lines=5)
        with pytest.raises(ToolFailed, match="invalid agent name 'Bob'"):
            await alice.call("request_spawn", name="Bob")
