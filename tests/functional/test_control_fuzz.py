"""The control socket always answers: a protocol fuzz against a real core.

The hive, its store and its control server are real; the container backend is the
in-memory fake (tests/fakes), so a fuzzed ``spawn`` of a valid name costs no container.
Each example writes one request line on a raw socket and waits for the reply that names
it; at the end the core still serves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hivetui.control.protocol import ARG_KINDS, OPS, STREAM_OPS
from hivetui.control.server import ControlServer
from hivetui.core.hive import Hive
from tests.fakes.memory_backend import FakeMemoryBackend

REPLY_WAIT_S = 20.0
HUGE = 1180591620717411303424  # 2**70: beyond sqlite's 64-bit integers

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.just(HUGE), st.just(-HUGE),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(["ann", "operator", "system", "a", "\ud800", "x" * 5000]))
JUNK = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
OP_NAMES = st.one_of(st.sampled_from(sorted({*OPS, *STREAM_OPS, "hello", "cancel"})),
                     st.text(max_size=20), JUNK)
ARGS = st.one_of(st.dictionaries(st.sampled_from(sorted({*ARG_KINDS, "stream",
                                                         "session_token", "bogus"})),
                                 JUNK, max_size=4), JUNK)
IDS = st.one_of(st.integers(min_value=1, max_value=10**6), st.text(min_size=1, max_size=10),
                JUNK)
JUNK_REQUESTS = st.fixed_dictionaries({"id": IDS, "op": OP_NAMES, "args": ARGS})
# well-typed requests, so that real operations run too (spawn, stop, send, purge, ...)
VALID = {"text": st.one_of(st.sampled_from(["ann", "bob", "zed", "operator", "scripted:echo",
                                            "claude-x", "hi"]), st.text(max_size=12)),
         "int": st.one_of(st.integers(-5, 60), st.just(2**63 - 1)),
         "number": st.floats(-10, 1e6), "bool": st.booleans(),
         "texts": st.lists(st.sampled_from(["turns", "cost_usd", "x"]), max_size=2)}


def _valid_value(arg: str) -> st.SearchStrategy[Any]:
    kind = ARG_KINDS[arg]
    value = VALID[kind.rstrip("?")]
    return st.one_of(st.none(), value) if kind.endswith("?") else value


def _valid_request(op: str) -> st.SearchStrategy[dict[str, Any]]:
    names, required = OPS[op]
    return st.fixed_dictionaries({
        "id": st.integers(min_value=1, max_value=10**6), "op": st.just(op),
        "args": st.fixed_dictionaries({n: _valid_value(n) for n in names[:required]},
                                      optional={n: _valid_value(n) for n in names[required:]}),
    })


REQUESTS = st.one_of(JUNK_REQUESTS, st.sampled_from(sorted(OPS)).flatmap(_valid_request))
RAW_LINES = st.one_of(
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),
    st.just(b"[" * 100_000 + b"]" * 100_000),  # nesting too deep for the JSON parser
    st.just(b'{"id": 1, "op": "agents", "args": {}'),  # cut short
)


class RawSocket:
    """One control connection spoken line by line, as a client in any language would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def ask(self, line: bytes, rid: Any) -> dict[str, Any]:
        """Write ``line``; the first reply for ``rid`` (stream items are skipped)."""
        self.writer.write(line + b"\n")
        await self.writer.drain()
        async with asyncio.timeout(REPLY_WAIT_S):
            while True:
                reply = json.loads(await self.reader.readline())
                if reply.get("id") == rid and "item" not in reply and "end" not in reply:
                    return dict(reply)


def _expected_id(request: Any) -> Any:
    """The id the server can answer with: the request's, or null when it had none usable."""
    if not isinstance(request, dict):
        return None
    rid = request.get("id")
    if rid is None or isinstance(rid, bool) or not isinstance(rid, int | str):
        return None
    return rid if len(str(rid)) <= 100 else None


@pytest.fixture
async def core(tmp_path: Any) -> AsyncIterator[tuple[Hive, ControlServer]]:
    async with Hive(tmp_path / "state", backend=FakeMemoryBackend()) as hive:
        await hive.registry.create("ann", runtime="scripted:echo", model="m")
        server = ControlServer(hive)
        hive.add_service("control", server.run)
        await server.ready()
        yield hive, server


@pytest.mark.slow
async def test_every_request_is_answered_and_the_core_survives(
        core: tuple[Hive, ControlServer]) -> None:
    hive, server = core
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_unix_connection(str(server.path), limit=2**25)
    sock = RawSocket(reader, writer)
    seen = {"ok": 0, "refused": 0}

    def check(line: bytes, request: Any) -> None:
        rid = _expected_id(request)
        op = request.get("op") if isinstance(request, dict) else None
        if isinstance(op, str) and op in STREAM_OPS:
            # a valid stream answers with items, maybe none yet: its cancel must be answered
            # (requests are read in order, so a refusal of the stream comes first)
            sock.writer.write(line + b"\n")
            line = json.dumps({"id": "cancel", "op": "cancel", "args": {"stream": rid}}
                              ).encode()
            rid = "cancel"
        reply = asyncio.run_coroutine_threadsafe(sock.ask(line, rid), loop).result(
            REPLY_WAIT_S + 5)
        if reply.get("ok"):
            seen["ok"] += 1
            return
        seen["refused"] += 1
        error = reply["error"]
        assert error["message"].strip() and error["title"]
        assert len(error["message"]) < 1000, "a refusal quotes its input in a bounded form"

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(REQUESTS)
    @example({"id": 1, "op": "approve", "args": {"approval_id": HUGE}})
    @example({"id": 2, "op": "agent", "args": {"name": {"a": 1}}})
    @example({"id": 3, "op": "send", "args": {"name": ["ann"], "text": "hi"}})
    @example({"id": 4, "op": "answer", "args": {"question_id": [1], "text": "x"}})
    @example({"id": {"x": 1}, "op": "agents", "args": {}})
    @example({"id": 5, "op": "cancel", "args": {"stream": {}}})
    @example({"id": 6, "op": "send", "args": {"name": "ann", "text": "\ud800"}})
    @example({"id": 7, "op": "stats", "args": {"name": "ann", "keys": [{}]}})
    def fuzz_requests(request: dict[str, Any]) -> None:
        try:
            line = json.dumps(request).encode()
        except ValueError:  # e.g. NaN keys are fine, but circular data is not JSON at all
            return
        check(line, request)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(RAW_LINES)
    def fuzz_lines(line: bytes) -> None:
        check(line, None)

    try:
        await asyncio.to_thread(fuzz_requests)
        await asyncio.to_thread(fuzz_lines)
        # (the fuzz may have destroyed ann: any answer to a well-formed request will do)
        reply = await sock.ask(b'{"id": "last", "op": "agents", "args": {}}', "last")
        assert reply["ok"] and isinstance(reply["result"], list)
    finally:
        writer.close()
    assert seen["refused"] > 100 and seen["ok"] > 0, seen
    assert "control" in hive.services()
