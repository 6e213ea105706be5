"""HiveClient against the real bridge: typed results and how failures are classified."""

from __future__ import annotations

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.errors import HarnessError
from hivetui.core.hive import Hive
from hivetui.harness.client import BridgeUnreachable, HiveClient, TurnReport


def _token(hive: Hive, name: str) -> str:
    return (hive.paths.agent_run(name) / "token").read_text().strip()


async def test_typed_calls_and_refusals(hive: Hive, bridge: Bridge) -> None:
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    async with HiveClient(bridge.url, _token(hive, "ann")) as ann, \
            HiveClient(bridge.url, _token(hive, "boss")) as boss:
        sent = await ann.send("boss", "hi")
        assert sent["depth"] == 1
        [m] = await boss.recv(wait_s=0, max=5)
        assert (m.sender, m.recipient, m.kind, m.body) == ("ann", "boss", "peer", "hi")
        assert {a["name"] for a in await boss.list_agents()} == {"boss", "ann"}
        await ann.set_status("in_turn", "working")
        assert hive.registry.get("ann").status == "in_turn"
        await ann.report_turn(TurnReport(outcome="ok", duration_s=1.5,
                                         tool_calls={"mcp__hive__send": 1},
                                         sent={"manager": 1}, received={"operator": 1}))
        settings = await ann.get_settings()
        assert settings["model"] == "m" and settings["model_override"] is None
        # refusals are HarnessError, never "unreachable" (which the loop would retry)
        with pytest.raises(HarnessError, match="manager only") as info:
            await ann.list_agents()
        assert not isinstance(info.value, BridgeUnreachable)
        with pytest.raises(HarnessError, match="outcome must be one of") as info:
            await ann.report_turn(TurnReport(outcome="weird", duration_s=1))  # type: ignore[arg-type]
        assert not isinstance(info.value, BridgeUnreachable)
        with pytest.raises(HarnessError, match="Unknown tool"):
            await ann.call("no_such_tool")


async def test_unreachable_and_closed(hive: Hive, bridge: Bridge) -> None:
    with pytest.raises(BridgeUnreachable, match="ConnectError"):
        async with HiveClient("http://127.0.0.1:9/mcp", "t"):
            pass
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    client = HiveClient(bridge.url, _token(hive, "ann"))
    await client.connect()
    await client.aclose()
    with pytest.raises(BridgeUnreachable, match="no session"):
        await client.recv()
    with pytest.raises(HarnessError, match="must be an http"):
        HiveClient("unix:/x", "t")
