"""bench/broker.py — the credential broker against direct access to a stand-in Messages API.

The stand-in (a small SSE server on uvicorn, in a process of its own) answers ``POST
/v1/messages`` with a short Messages stream and only to the operator's key; ``?hold_ms=N``
makes it pause N ms after ``message_start``. The broker runs as in the core (a real hive on a
temp dir, its store and registry, uvicorn in this process's loop); the client (httpx2) is in
this process too, so in both paths the same client does the same work.

Phases: (1) one request at a time, direct and through the broker alternately: the full
answer's latency, ``added_p50_ms``/``added_p99_ms`` the broker's p50/p99 over direct's;
(2) held streams (``hold_ms`` 300): ``first_byte_p50_ms`` is the time to the first body
byte through the broker (``direct_first_byte_p50_ms`` without it), and
``first_byte_before_end`` says every first byte arrived at least half the hold before the
end (nothing buffered until the stand-in released the rest); (3) ``streams`` concurrent held streams
(200) through the broker, all open at once: ``streams_ok`` finished whole,
``streams_unbuffered`` had their first byte before the stand-in released any of them.
``added_cpu_ms_per_request`` is the CPU this process spent more per request through the
broker (its own work: the client's is the same both ways), a figure the machine's other load
disturbs less than wall-clock latency.
Goal: added p50 ≤ 2 ms; first byte always before the end.
Last line: JSON with added_p50_ms, added_p99_ms, first_byte_p50_ms, streams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2

from hivetui.broker.credential import Credential
from hivetui.broker.server import Broker
from hivetui.core.hive import Hive

KEY = "sk-ant-api03-bench-operator-key"
MODEL = "claude-sonnet-4-5"
BLOCK = 25
HOLD_MS = 300  # a held stream's pause upstream after message_start
ASK = {"model": MODEL, "max_tokens": 64, "stream": True,
       "messages": [{"role": "user", "content": "hello"}]}


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


START = _sse("message_start", {"type": "message_start", "message": {
    "id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL, "content": [],
    "stop_reason": None, "usage": {"input_tokens": 50, "output_tokens": 1}}})
REST = b"".join([
    _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    *[_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": f"word{i} "}})
      for i in range(20)],
    _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 20}}),
    _sse("message_stop", {"type": "message_stop"}),
])


async def standin_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The stand-in Messages API: SSE, the operator's key only."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = dict(scope["headers"])
    if headers.get(b"x-api-key") != KEY.encode():
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": START, "more_body": True})
    hold = float(query.get("hold_ms", 0)) / 1000
    if hold:
        await asyncio.sleep(hold)
    await send({"type": "http.response.body", "body": REST})


def standin_main(conn: multiprocessing.connection.Connection) -> None:
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    conn.send(sock.getsockname()[1])
    uvicorn.Server(uvicorn.Config(standin_app, log_config=None, access_log=False,
                                  lifespan="off", backlog=2048)).run(sockets=[sock])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(client: httpx2.AsyncClient, url: str, headers: dict[str, str]
                ) -> tuple[float, float, bytes]:
    """(ms to the first body byte, ms to the end, body)."""
    started = time.perf_counter()
    first = 0.0
    parts = []
    async with client.stream("POST", url, json=ASK, headers=headers) as answer:
        assert answer.status_code == 200, answer.status_code
        async for chunk in answer.aiter_raw():
            if not first:
                first = time.perf_counter()
            parts.append(chunk)
    return (first - started) * 1000, (time.perf_counter() - started) * 1000, b"".join(parts)


@contextlib.asynccontextmanager
async def broker_on(state: Path, api_url: str) -> AsyncIterator[tuple[Broker, str]]:
    async with Hive(state) as hive:
        hive.config.anthropic.base_url = api_url
        await hive.registry.create("bench", runtime="claude", model=MODEL)
        token = (hive.paths.agent_run("bench") / "token").read_text().strip()
        broker = Broker(hive, credential=Credential("api_key", KEY, "bench"))
        hive.add_service("broker", broker.run)
        await broker.ready()
        try:
            yield broker, token
        finally:
            await broker.aclose()


async def run(quick: bool) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    standin = multiprocessing.get_context("spawn").Process(target=standin_main, args=(child,),
                                                           daemon=True)
    standin.start()
    api_url = f"http://127.0.0.1:{parent.recv()}"
    rounds = 300 if quick else 2000
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=1000)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-broker-") as tmp:
            async with broker_on(Path(tmp) / "state", api_url) as (broker, token), \
                    httpx2.AsyncClient(limits=limits, timeout=60) as client:
                direct = (f"{api_url}/v1/messages", {"x-api-key": KEY})
                through = (f"{broker.url}/v1/messages", {"authorization": f"Bearer {token}"})
                for _ in range(30):  # warm both paths' connections
                    await timed(client, *direct)
                    await timed(client, *through)
                direct_ms: list[float] = []
                broker_ms: list[float] = []
                cpu = {"direct": 0.0, "broker": 0.0}
                for _ in range(rounds // BLOCK):  # alternate blocks: load weighs on both
                    for name, path, out in (("direct", direct, direct_ms),
                                            ("broker", through, broker_ms)):
                        started = time.process_time()
                        for _ in range(BLOCK):
                            out.append((await timed(client, *path))[1])
                        cpu[name] += time.process_time() - started
                held = (f"{broker.url}/v1/messages?hold_ms={HOLD_MS}", through[1])
                firsts = [await timed(client, *held) for _ in range(10 if quick else 50)]
                held_direct = (f"{api_url}/v1/messages?hold_ms={HOLD_MS}", direct[1])
                direct_firsts = [await timed(client, *held_direct)
                                 for _ in range(10 if quick else 50)]
                many = (f"{broker.url}/v1/messages?hold_ms=500", through[1])
                streams = int(os.environ.get("BENCH_BROKER_STREAMS", "200"))
                together = await asyncio.gather(*[timed(client, *many)
                                                  for _ in range(streams)],
                                                return_exceptions=True)
    finally:
        standin.kill()
        standin.join()
    whole = [t for t in together if isinstance(t, tuple) and t[2].endswith(REST[-40:])]
    return {
        "added_p50_ms": round(statistics.median(broker_ms) - statistics.median(direct_ms), 3),
        "added_p99_ms": round(pct(broker_ms, 0.99) - pct(direct_ms, 0.99), 3),
        "direct_p50_ms": round(statistics.median(direct_ms), 3),
        "broker_p50_ms": round(statistics.median(broker_ms), 3),
        "first_byte_p50_ms": round(statistics.median(f for f, _, _ in firsts), 3),
        "held_end_p50_ms": round(statistics.median(e for _, e, _ in firsts), 3),
        "direct_first_byte_p50_ms": round(statistics.median(f for f, _, _ in direct_firsts),
                                          3),
        "upstream_hold_ms": HOLD_MS,
        "first_byte_before_end": all(f < e - HOLD_MS / 2 for f, e, _ in firsts),
        "streams": streams,
        "streams_ok": len(whole),
        "streams_unbuffered": sum(1 for f, e, _ in whole if f < e - 250),
        "rounds": rounds,
        "added_cpu_ms_per_request": round((cpu["broker"] - cpu["direct"]) * 1000
                                          / len(broker_ms), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (within 60 s)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.quick))))


if __name__ == "__main__":
    main()
