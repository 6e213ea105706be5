"""The credential broker over real HTTP: a real hive (store, registry, config repos; the
containers are the in-memory FAKE backend, no agent process runs here), the broker served by
uvicorn, and a FAKE Messages API (tests/fakes/anthropic_api.py) that accepts only the
operator's credential."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hivetui.broker.credential import Credential, load_credential, read_key_file
from hivetui.broker.server import Broker
from hivetui.core.config import AnthropicConfig, HiveConfig
from hivetui.core.errors import ConfigError
from hivetui.core.events import BudgetExhausted, Notification
from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession, agent_view
from hivetui.core.settings import AgentSettings
from hivetui.core.spend import cost_usd
from hivetui.node import HiveNode
from tests.fakes.anthropic_api import FakeMessagesApi, Reply, serve_fake_api, text
from tests.fakes.memory_backend import FakeMemoryBackend

OPERATOR_KEY = "sk-ant-api03-operator-secret"
OAUTH_TOKEN = "sk-ant-oat01-subscription-secret"
MODEL = "claude-sonnet-4-5"
ASK = {"model": MODEL, "max_tokens": 100, "stream": True,
       "messages": [{"role": "user", "content": "hi"}]}


@asynccontextmanager
async def broker_hive(tmp_path: Path, credential: str = OPERATOR_KEY,
                      reply: Reply | None = None, budget: float | None = None
                      ) -> AsyncIterator[tuple[Hive, Broker, FakeMessagesApi, str]]:
    """A hive with agent alice (its budget), a broker holding ``credential``, the fake API
    (answering ``reply``) behind it; yields alice's token too."""
    async with serve_fake_api(lambda request: reply or text("hello"), credential) as api:
        config = HiveConfig()
        config.anthropic.base_url = api.url
        async with Hive(tmp_path / "state", config, FakeMemoryBackend()) as hive:
            assert hive.lifecycle is not None
            await hive.registry.create("alice", runtime="claude", model=MODEL)
            await hive.lifecycle.repos.ensure("alice", AgentSettings(
                runtime="claude", model=MODEL, budget_usd_per_day=budget))
            token = (hive.paths.agent_run("alice") / "token").read_text().strip()
            found = load_credential(AnthropicConfig(), {"ANTHROPIC_API_KEY": credential}
                                    if not credential.startswith("sk-ant-oat")
                                    else {"CLAUDE_CODE_OAUTH_TOKEN": credential})
            broker = Broker(hive, credential=found)
            hive.add_service("broker", broker.run)
            await broker.ready()
            yield hive, broker, api, token


async def until_counted(hive: Hive, requests: int) -> None:
    """The broker counts an answer once it has gone out: wait for the count."""
    for _ in range(200):
        if (await hive.spend.today("alice")).requests >= requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the broker did not count {requests} request(s)")


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "anthropic-version": "2023-06-01"}


def _sse_events(raw: bytes) -> list[str]:
    return [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]


async def test_a_request_goes_through_with_the_operators_key_not_the_agents_token(
        tmp_path: Path) -> None:
    async with broker_hive(tmp_path) as (_hive, broker, api, token), httpx2.AsyncClient() as c:
        answer = await c.post(broker.url + "/v1/messages", json=ASK,
                              headers={**_bearer(token), "anthropic-beta": "tools-x"})
        assert answer.status_code == 200, answer.text
        assert _sse_events(answer.content)[0] == "message_start"
        assert _sse_events(answer.content)[-1] == "message_stop"
        [seen] = api.headers
        assert seen["x-api-key"] == OPERATOR_KEY
        assert token not in json.dumps(seen)  # the agent's token stays in the hive
        assert "authorization" not in seen
        assert seen["anthropic-beta"] == "tools-x"


async def test_the_oauth_form_goes_as_a_bearer_with_the_oauth_beta_flag(tmp_path: Path) -> None:
    async with broker_hive(tmp_path, OAUTH_TOKEN) as (_hive, broker, api, token), \
            httpx2.AsyncClient() as c:
        answer = await c.post(broker.url + "/v1/messages", json=ASK,
                              headers={**_bearer(token), "anthropic-beta": "tools-x"})
        assert answer.status_code == 200, answer.text
        [seen] = api.headers
        assert seen["authorization"] == f"Bearer {OAUTH_TOKEN}" and "x-api-key" not in seen
        assert seen["anthropic-beta"] == "tools-x,oauth-2025-04-20"


async def test_the_unix_socket_serves_the_same(tmp_path: Path) -> None:
    async with broker_hive(tmp_path) as (_hive, broker, api, token):
        transport = httpx2.AsyncHTTPTransport(uds=str(broker.socket_path))
        async with httpx2.AsyncClient(transport=transport) as c:
            answer = await c.post("http://broker/v1/messages", json=ASK, headers=_bearer(token))
        assert answer.status_code == 200 and api.headers[0]["x-api-key"] == OPERATOR_KEY


async def test_unknown_and_revoked_tokens_and_other_endpoints_are_refused(
        tmp_path: Path) -> None:
    async with broker_hive(tmp_path) as (hive, broker, api, token), httpx2.AsyncClient() as c:
        for headers in ({}, _bearer("not-a-token"), {"x-api-key": "sk-ant-guess"}):
            answer = await c.post(broker.url + "/v1/messages", json=ASK, headers=headers)
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"]["type"] == "authentication_error"
            assert answer.headers["x-should-retry"] == "false"
        batch = await c.post(broker.url + "/v1/messages/batches", json={},
                             headers=_bearer(token))
        assert batch.status_code == 404 and "not forwarded" in batch.json()["error"]["message"]
        await hive.registry.revoke_token("alice")  # what stopping the agent does
        answer = await c.post(broker.url + "/v1/messages", json=ASK, headers=_bearer(token))
        assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]
        assert api.requests == []  # nothing reached the API


async def test_streams_are_forwarded_before_the_upstream_answer_ends(tmp_path: Path) -> None:
    gate = asyncio.Event()
    reply = Reply(blocks=({"type": "text", "text": "late"},), gate=gate)
    async with broker_hive(tmp_path, reply=reply) as (_hive, broker, _api, token), \
            httpx2.AsyncClient() as c:
        async with c.stream("POST", broker.url + "/v1/messages", json=ASK,
                            headers=_bearer(token)) as answer:
            chunks = answer.aiter_raw()
            first = await asyncio.wait_for(anext(chunks), 5)  # upstream is held after it
            assert b"message_start" in first and not gate.is_set()
            gate.set()
            rest = b"".join([c async for c in chunks])
        assert b"message_stop" in rest


async def test_usage_is_counted_into_telemetry_and_the_days_spend(tmp_path: Path) -> None:
    async with broker_hive(tmp_path) as (hive, broker, _api, token), httpx2.AsyncClient() as c:
        for stream in (True, False):
            answer = await c.post(broker.url + "/v1/messages", json={**ASK, "stream": stream},
                                  headers=_bearer(token))
            assert answer.status_code == 200
        await until_counted(hive, 2)
        await hive.telemetry.flush()
        series = await hive.telemetry.query("alice", 60)
        one = cost_usd(MODEL, {"input_tokens": 120, "output_tokens": 30})
        assert [v for _, v in series["api_requests"]] == [1, 1]
        assert [v for _, v in series["api_input_tokens"]] == [120, 120]
        assert [v for _, v in series["api_output_tokens"]] == [30, 30]  # the final count
        assert [v for _, v in series["api_cost_usd"]] == pytest.approx([one, one])
        today = await hive.spend.today("alice")
        assert (today.requests, today.input_tokens, today.output_tokens) == (2, 240, 60)
        assert today.cost_usd == pytest.approx(2 * one)
        view = agent_view(hive, hive.registry.get("alice"))  # what ctl and the TUI show
        assert (view.api_requests_today, view.api_input_tokens_today) == (2, 240)
        assert view.api_today == f"{2 * one:.2f} USD, 2 requests, 240 in / 60 out tokens"
        # the agent overview's cost sets the broker's count beside the CLI's own figures
        cost = await OperatorSession(hive, Operator("op")).cost("alice")
        assert cost["broker_cost_usd"] == pytest.approx(2 * one)
        # a count_tokens call is forwarded and costs nothing
        counted = await c.post(broker.url + "/v1/messages/count_tokens", json=ASK,
                               headers=_bearer(token))
        assert counted.json() == {"input_tokens": 100}
        assert (await hive.spend.today("alice")).requests == 2


async def test_a_spent_budget_is_refused_told_once_and_kept_across_a_restart(
        tmp_path: Path) -> None:
    one = cost_usd(MODEL, {"input_tokens": 120, "output_tokens": 30})
    async with broker_hive(tmp_path, budget=one * 1.5) as (hive, broker, api, token), \
            httpx2.AsyncClient() as c:
        await hive.registry.create("boss", role="manager", runtime="scripted:manager",
                                   model="m")
        events = hive.hub.subscribe()
        for _ in range(2):  # the second starts under the budget and ends over it
            answer = await c.post(broker.url + "/v1/messages", json=ASK,
                                  headers=_bearer(token))
            assert answer.status_code == 200
            await until_counted(hive, len(api.requests))
        refused = await c.post(broker.url + "/v1/messages", json=ASK, headers=_bearer(token))
        assert refused.status_code == 400, refused.text
        error = refused.json()
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        assert "budget_usd_per_day" in error["error"]["message"]
        assert len(api.requests) == 2
        await c.post(broker.url + "/v1/messages", json=ASK, headers=_bearer(token))
        seen = []
        while not events._queue.empty():
            seen.append(await events.get())
        [told] = [e for e in seen if isinstance(e, BudgetExhausted)]
        assert told.agent == "alice" and told.spent == pytest.approx(2 * one, rel=1e-4)
        assert [e for e in seen if isinstance(e, Notification) and "budget" in e.title]
        [event] = [json.loads(m.body) for m in await hive.bus.history("boss")
                   if m.recipient == "boss"]
        assert event["event"] == "budget_exhausted" and event["budget"] == one * 1.5
        view = agent_view(hive, hive.registry.get("alice"))
        assert view.budget_usd_per_day == one * 1.5
        assert view.api_today.startswith(f"{2 * one:.2f} of {one * 1.5:.2f} USD, 2 requests")
    # a new core on the same state dir: the day's spend is still spent, and told
    config = HiveConfig()
    async with Hive(tmp_path / "state", config, FakeMemoryBackend()) as hive:
        assert await hive.spend.refusal("alice") is not None
        assert (await hive.spend.today("alice")).requests == 2
        assert len([m for m in await hive.bus.history("boss") if m.recipient == "boss"]) == 1


async def test_without_a_credential_requests_are_refused_saying_how_to_give_one(
        tmp_path: Path) -> None:
    async with serve_fake_api(lambda request: text("x")) as api, \
            Hive(tmp_path / "state", HiveConfig()) as hive:
        await hive.registry.create("alice", runtime="claude", model=MODEL)
        token = (hive.paths.agent_run("alice") / "token").read_text().strip()
        hive.config.anthropic.base_url = api.url
        broker = Broker(hive)
        hive.add_service("broker", broker.run)
        await broker.ready()
        async with httpx2.AsyncClient() as c:
            answer = await c.post(broker.url + "/v1/messages", json=ASK, headers=_bearer(token))
        assert answer.status_code == 401
        assert "ANTHROPIC_API_KEY" in answer.json()["error"]["message"]
        assert api.requests == []


def test_the_key_file_must_be_the_owners_alone(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text(OAUTH_TOKEN + "\n")
    for mode in (0o640, 0o604, 0o660):
        os.chmod(key, mode)
        with pytest.raises(ConfigError, match=rf"{key}.*mode 0{mode:o}.*chmod 600"):
            read_key_file(key)
    os.chmod(key, 0o600)
    found = read_key_file(key)
    assert (found.kind, found.secret) == ("oauth", OAUTH_TOKEN)
    assert OAUTH_TOKEN not in repr(found)
    # the key file wins over the environment
    env = {"ANTHROPIC_API_KEY": OPERATOR_KEY}
    assert load_credential(AnthropicConfig(key_file=str(key)), env) == found
    assert load_credential(AnthropicConfig(), env) == Credential(
        "api_key", OPERATOR_KEY, "the core's ANTHROPIC_API_KEY")
    assert load_credential(AnthropicConfig(), {}) is None
    with pytest.raises(ConfigError, match="cannot read"):
        read_key_file(tmp_path / "missing")


def test_cost_follows_the_models_price_and_an_unknown_model_is_priced_dearest() -> None:
    usage: dict[str, Any] = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert cost_usd("claude-sonnet-4-5-20250929", usage) == pytest.approx(18.0)
    assert cost_usd("claude-haiku-4-5", usage) == pytest.approx(6.0)
    assert cost_usd("claude-opus-4-1", usage) == pytest.approx(90.0)
    assert cost_usd("mystery-model", usage) == pytest.approx(90.0)
    cached = {"cache_creation_input_tokens": 1_000_000, "cache_read_input_tokens": 1_000_000,
              "output_tokens": "lots", "input_tokens": -5}
    assert cost_usd("claude-sonnet-4-5", cached) == pytest.approx(3.0 * 1.25 + 3.0 * 0.1)


async def test_a_core_with_a_readable_key_file_refuses_to_start_naming_it(
        tmp_path: Path) -> None:
    key = tmp_path / "anthropic.key"
    key.write_text(OPERATOR_KEY + "\n")
    os.chmod(key, 0o644)
    config = HiveConfig()
    config.anthropic.key_file = str(key)
    with pytest.raises(ConfigError, match=rf"key_file {key} is mode 0644"):
        async with HiveNode(tmp_path / "state", config, containers=False):
            pass


async def test_an_unreachable_api_is_an_api_error_naming_base_url(tmp_path: Path) -> None:
    async with broker_hive(tmp_path) as (hive, broker, _api, token), httpx2.AsyncClient() as c:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        try:
            broker_app_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
            hive.config.anthropic.base_url = broker_app_url
            await broker.aclose()  # a new broker on the new base_url
            again = Broker(hive, credential=broker.credential)
            hive.add_service("broker-again", again.run)
            await again.ready()
            answer = await c.post(again.url + "/v1/messages", json=ASK, headers=_bearer(token))
        finally:
            closed.close()
        assert answer.status_code == 502
        error = answer.json()["error"]
        assert error["type"] == "api_error" and broker_app_url in error["message"]
