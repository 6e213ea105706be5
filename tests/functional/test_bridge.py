"""The MCP bridge: real uvicorn on loopback, real MCP client, bearer identity."""

from __future__ import annotations

import asyncio
import time

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivetui.bridge.server import Bridge
from hivetui.core.hive import Hive
from tests.mcp_util import ToolFailed, agent_client


async def _hive3(hive: Hive) -> None:
    await hive.registry.create("boss", role="manager", runtime="scripted:manager", model="m")
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    await hive.registry.create("bob", runtime="scripted:echo", model="m")


async def test_send_recv_across_agents(hive: Hive, connect) -> None:  # type: ignore[no-untyped-def]
    await _hive3(hive)
    async with connect("alice") as alice, connect("bob") as bob:
        sent = await alice.call("send", to="bob", body="hello bob")
        assert sent["depth"] == 1
        got = await bob.call("recv", wait_s=0, max=10)
        assert [(m["sender"], m["body"], m["kind"]) for m in got["messages"]] == [
            ("alice", "hello bob", "peer")]
        await bob.call("send", to="operator", body="hi operator")
        history = await hive.bus.history("operator")
        assert history[-1].sender == "bob" and history[-1].body == "hi operator"


async def test_long_poll_over_mcp_wakes_fast(hive: Hive, connect) -> None:  # type: ignore[no-untyped-def]
    await _hive3(hive)
    async with connect("alice") as alice, connect("bob") as bob:
        waiter = asyncio.create_task(bob.call("recv", wait_s=10, max=5))
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()
        await alice.call("send", to="bob", body="ping")
        got = await waiter
        assert got["messages"][0]["body"] == "ping"
        assert time.perf_counter() - t0 < 0.5


async def test_no_token_and_wrong_token_get_401(hive: Hive, bridge: Bridge) -> None:
    await _hive3(hive)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient() as http:
        r = await http.post(bridge.url, json=body)
        assert r.status_code == 401
        r = await http.post(bridge.url, json=body, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        # a token of another hive's shape but not ours
        r = await http.post(bridge.url, json=body,
                            headers={"Authorization": "Bearer " + "A" * 43})
        assert r.status_code == 401


async def test_identity_is_the_token_not_a_claim(hive: Hive, connect) -> None:  # type: ignore[no-untyped-def]
    await _hive3(hive)
    await hive.bus.send("operator", "bob", "for bob only")
    async with connect("alice") as alice:
        # alice can only ever read her own inbox: recv takes no name
        got = await alice.call("recv", wait_s=0, max=10)
        assert got["messages"] == []
        # claiming to be bob changes nothing: the extra argument is not identity
        got = await alice.call("recv", wait_s=0, max=10, agent="bob")
        assert got["messages"] == []
    assert hive.bus.depth("bob") == 1
    async with connect("alice") as alice:
        await alice.call("send", to="bob", body="from alice")
    last = (await hive.bus.history("bob"))[-1]
    assert last.sender == "alice"


async def test_worker_calling_manager_tool_is_refused(hive: Hive, connect) -> None:  # type: ignore[no-untyped-def]
    await _hive3(hive)
    async with connect("alice") as alice:
        for tool, args in [("list_agents", {}), ("request_spawn", {"name": "x"}),
                           ("restart", {"agent": "bob"}), ("ask_operator", {"question": "q"}),
                           ("get_logs", {"agent": "bob", "lines": 5})]:
            with pytest.raises(ToolFailed, match="alice is a worker: this tool is for the "
                                                 "manager only"):
                await alice.call(tool, **args)
    async with connect("boss") as boss:
        listed = await boss.call("list_agents")
        assert {a["name"] for a in listed["agents"]} == {"boss", "alice", "bob"}
        q = await boss.call("ask_operator", question="Deploy?", options=["yes", "no"])
        assert q["state"] == "pending"
    assert hive.registry.get("boss").status == "waiting_operator"


async def test_limits_over_mcp(hive: Hive, connect) -> None:  # type: ignore[no-untyped-def]
    await _hive3(hive)
    hive.bus.config.max_inbox_depth = 2
    async with connect("alice") as alice:
        await alice.call("send", to="bob", body="1")
        await alice.call("send", to="bob", body="2")
        with pytest.raises(ToolFailed, match="Inbox full: inbox of 'bob' is full"):
            await alice.call("send", to="bob", body="3")
        with pytest.raises(ToolFailed, match="limit is 65536 bytes"):
            await alice.call("send", to="bob", body="x" * 70000)


async def test_set_status_and_report_turn(hive: Hive, connect) -> None:  # type: ignore[no-untyped-def]
    await _hive3(hive)
    async with connect("alice") as alice:
        await alice.call("set_status", status="in_turn", detail="thinking")
        assert hive.registry.get("alice").status == "in_turn"
        with pytest.raises(ToolFailed, match="status must be one of"):
            await alice.call("set_status", status="sleeping")
        await alice.call("report_turn", outcome="ok", duration_s=2.5,
                         tool_calls={"Read": 2, "mcp__hive__send": 1}, cost_usd=0.01,
                         sent={"peer": 1}, received={"operator": 1}, notes_bytes=10)
        with pytest.raises(ToolFailed, match="outcome must be one of"):
            await alice.call("report_turn", outcome="great", duration_s=1)
    await hive.telemetry.flush()
    series = await hive.telemetry.query("alice")
    assert series["turn_duration_s"][-1][1] == 2.5
    assert series["tool:Read"][-1][1] == 2
    assert series["received_operator"][-1][1] == 1
    assert hive.registry.get("alice").last_turn_at is not None


NAMES = st.one_of(st.text(max_size=20), st.sampled_from(["bob", "operator", "system", "BOB"]))
JUNK = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(),
                 st.text(max_size=50), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
CALLS = st.one_of(
    st.tuples(st.just("send"), st.fixed_dictionaries({"to": st.one_of(NAMES, JUNK),
                                                      "body": st.one_of(st.text(), JUNK)})),
    # wait_s stays tiny (a valid long wait would just wait), everything else is junk
    st.tuples(st.just("recv"), st.fixed_dictionaries({"wait_s": st.one_of(
        st.floats(min_value=-5, max_value=0.01), st.just(float("nan")), st.just(float("-inf")),
        st.integers(max_value=0), st.none(), st.text(max_size=20), st.booleans()),
        "max": st.one_of(st.integers(), JUNK)})),
    st.tuples(st.just("set_status"), st.fixed_dictionaries({"status": st.one_of(NAMES, JUNK),
                                                            "detail": st.one_of(st.text(), JUNK)})),
    st.tuples(st.just("report_turn"), st.fixed_dictionaries({
        "outcome": st.one_of(st.sampled_from(["ok", "x"]), JUNK),
        "duration_s": st.one_of(st.floats(allow_nan=True), JUNK),
        "tool_calls": st.one_of(JUNK, st.dictionaries(st.text(max_size=200), st.integers(),
                                                      max_size=5))})),
    st.tuples(st.just("request_spawn"), st.fixed_dictionaries({"name": st.one_of(NAMES, JUNK)})),
)


async def test_bad_input_never_crashes_and_names_the_problem(hive: Hive, bridge: Bridge) -> None:
    await _hive3(hive)
    token = (hive.paths.agent_run("alice") / "token").read_text().strip()
    errors: list[str] = []
    async with agent_client(bridge.harness_url, token) as alice:

        @settings(max_examples=150, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(CALLS)
        def run(call: tuple[str, dict[str, object]]) -> None:
            tool, args = call
            fut = asyncio.run_coroutine_threadsafe(alice.client.call_tool(tool, args), loop)
            result = fut.result(timeout=30)
            if result.is_error:
                text = " ".join(getattr(c, "text", "") for c in result.content)
                assert text.strip(), "an error must say what was wrong"
                assert "Error executing tool " + tool in text
                # a crash would only say "Error executing tool X" and nothing else
                assert len(text) > len(f"Error executing tool {tool}") + 5, text
                errors.append(text)

        loop = asyncio.get_running_loop()
        await asyncio.to_thread(run)
        # the server is still healthy afterwards
        assert (await alice.call("recv", wait_s=0, max=1)) is not None
    assert errors, "hypothesis should have produced refusals"
    assert "bridge" in hive.services()
