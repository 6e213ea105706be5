"""bench/bus.py — N agents exchanging messages through the real MCP HTTP path.

Server (hive + bridge, uvicorn) runs in its own process; the agents are MCP clients in this
one. Beside it, a raw HTTP round trip (GET /healthz on the same uvicorn, same HTTP client
library) gives the baseline.

Phases: (1) raw HTTP round trips with httpx2, one at a time; (2) MCP `send` calls one at a
time with the hive's own agent-side client (`hivetui.harness.client.HiveClient`, also
httpx2): ``overhead_ratio`` is (2)'s p50 over (1)'s, the cost of the MCP path for one
message; the same with the `mcp` SDK's `Client` is reported beside it (``sdk_*``);
(3) N agents at once, each sending to the next one (``--pattern ring``, the default; ``all``:
to every other agent in turn) and long-polling its own inbox — ``msgs_per_s`` and the
``p50_ms``/``p99_ms`` of a `send` under that load, with the bus's default
``recv_linger_ms`` (``--linger-ms`` to change it; 0 turns batching off). The load agents use
bench/_mcp_load.py, a lean client (the SDK's wire bytes, httptools parsing) so that on a
2-core machine the figure measures the bridge rather than the client library; its own CPU
per call is reported (``client_cpu_ms_per_call``). The other pattern is measured too
(``all_*`` or ``ring_*``).
Last line: JSON with msgs_per_s, p50_ms, p99_ms, raw_http_p50_ms, overhead_ratio.

``--flood``: agent a0 opens MCP sessions as fast as it can (``initialize`` of the
handshake protocol, never closed, from a process of its own over several connections)
while the other agents run the ring load; the same load also runs quiet. Quiet and
flooded rounds alternate (2 with ``--quick``, else 3) so the machine's other load weighs
on both alike. ``flood_p99_ratio`` is the median `send` p99 of the flooded
rounds over the quiet ones' (goal ≤ 2),
``flood_core_mb`` the server's peak RSS during the flood over its RSS before (goal ≤ 50);
the flooder's answers are counted (``flood_opened``: 200, ``flood_refused``: 429).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._mcp_load import LeanMCP, SessionOpener
from hivetui.core.tool_surface import harness_url
from hivetui.harness.client import HiveClient

HERE = Path(__file__).resolve().parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (the server's own cost)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_http(url: str, n: int) -> list[float]:
    base = url.rsplit("/", 1)[0]
    out = []
    async with httpx2.AsyncClient() as http:
        for _ in range(20):
            await http.get(base + "/healthz")
        for _ in range(n):
            t0 = time.perf_counter()
            r = await http.get(base + "/healthz")
            out.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    return out


async def sequential_sends(url: str, token: str, peer: str, n: int) -> list[float]:
    """`send` one at a time through the hive's agent-side client (httpx2, like raw_http)."""
    out = []
    async with HiveClient(url, token) as client:
        for i in range(20 + n):
            t0 = time.perf_counter()
            await client.send(peer, f"seq #{i}")
            if i >= 20:
                out.append((time.perf_counter() - t0) * 1000)
    return out


async def sequential_sends_sdk(url: str, token: str, peer: str, n: int) -> list[float]:
    """The same through the `mcp` SDK's `Client` (more client-side work per call)."""
    out = []
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        for i in range(20 + n):
            t0 = time.perf_counter()
            r = await client.call_tool("send", {"to": peer, "body": f"sdk #{i}"})
            if i >= 20:
                out.append((time.perf_counter() - t0) * 1000)
            if r.is_error:
                raise RuntimeError(str(r.content))
    return out


async def drain(url: str, token: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        while (await client.call_tool("recv", {"wait_s": 0, "max": 100})
               ).structured_content.get("messages"):
            pass


def plan(names: list[str], per_agent: int, pattern: str) -> dict[str, list[str]]:
    """Who each agent sends to, message by message."""
    out = {}
    for i, name in enumerate(names):
        peers = [names[(i + 1) % len(names)]] if pattern == "ring" else names[i + 1:] + names[:i]
        out[name] = [peers[k % len(peers)] for k in range(per_agent)]
    return out


async def agent(url: str, name: str, token: str, targets: list[str], expect: int,
                latencies: list[float], received: dict[str, int], calls: list[int]) -> None:
    """One agent: a sender and a long-polling receiver, each on its own connection
    (one call in flight per connection, as an HTTP/1.1 client without pipelining)."""
    async with LeanMCP(url, token) as out, LeanMCP(url, token) as inbox:
        async def sender() -> None:
            for i, peer in enumerate(targets):
                t0 = time.perf_counter()
                await out.call_tool("send", {"to": peer, "body": f"{name} #{i}"})
                latencies.append((time.perf_counter() - t0) * 1000)

        async def receiver() -> None:
            while received[name] < expect:
                r = await inbox.call_tool("recv", {"wait_s": 5, "max": 100})
                calls.append(1)
                got = r.get("messages", [])
                if not got:
                    raise RuntimeError(f"{name}: recv timed out at {received[name]}/{expect}")
                received[name] += len(got)

        await asyncio.gather(sender(), receiver())


async def load_phase(url: str, tokens: dict[str, str], per_agent: int, pattern: str,
                     server_pid: int) -> dict[str, float]:
    """All agents sending and long-polling at once; throughput, latency and CPU figures."""
    names = list(tokens)
    targets = plan(names, per_agent, pattern)
    expect = {n: sum(t.count(n) for t in targets.values()) for n in names}
    latencies: list[float] = []
    received = dict.fromkeys(names, 0)
    recv_calls: list[int] = []
    cpu0, client0 = cpu_seconds(server_pid), time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*[agent(url, n, tokens[n], targets[n], expect[n], latencies,
                                 received, recv_calls) for n in names])
    elapsed = time.perf_counter() - t0
    client_cpu = time.process_time() - client0
    server_cpu = cpu_seconds(server_pid) - cpu0
    total = sum(received.values())
    if total != len(names) * per_agent:
        raise RuntimeError(f"lost messages: {total} of {len(names) * per_agent}")
    calls = len(latencies) + len(recv_calls)
    return {"msgs_per_s": round(total / elapsed, 1), "messages": total, "calls": calls,
            "calls_per_msg": round(calls / total, 2),
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(pct(latencies, 0.99), 2),
            "server_cpu_ms_per_call": round(server_cpu * 1000 / calls, 3),
            "client_cpu_ms_per_call": round(client_cpu * 1000 / calls, 3),
            "elapsed_s": round(elapsed, 2)}


@contextlib.contextmanager
def bus_server(agents: int, extra: list[str], server: str | None = None
               ) -> Iterator[tuple[subprocess.Popen[str], str, dict[str, Any]]]:
    """The hive under load in its own process: (process, the harness's endpoint -- the
    load's agents receive there, as harnesses do -- and what the server said: tokens, …)."""
    state = Path(tempfile.mkdtemp(prefix="hivetui-bench-bus-"))
    proc = subprocess.Popen([sys.executable, server or str(HERE / "_bus_server.py"),
                             str(state), str(agents), *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and not line.startswith("{"):  # a profiler wrapping the server may talk
            line = proc.stdout.readline()
        info = json.loads(line)
        yield proc, harness_url(info["url"]), info
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(state, ignore_errors=True)


async def run(agents: int, per_agent: int, pattern: str, linger_ms: float | None
              ) -> dict[str, object]:
    extra = [] if linger_ms is None else [str(linger_ms)]
    with bus_server(agents, extra, os.environ.get("BENCH_BUS_SERVER")) as (proc, url, info):
        tokens = info["tokens"]
        raw_p50 = statistics.median(await raw_http(url, 300))
        seq_p50 = statistics.median(await sequential_sends(url, tokens["a0"], "a1", 300))
        sdk_p50 = statistics.median(await sequential_sends_sdk(url, tokens["a0"], "a1", 300))
        await drain(url, tokens["a1"])
        other = "ring" if pattern == "all" else "all"
        main_run = await load_phase(url, tokens, per_agent, pattern, proc.pid)
        other_run = await load_phase(url, tokens, per_agent, other, proc.pid)
        return {"bench": "bus", "agents": agents, "pattern": pattern,
                "recv_linger_ms": info["recv_linger_ms"], **main_run,
                "raw_http_p50_ms": round(raw_p50, 2), "mcp_send_seq_p50_ms": round(seq_p50, 2),
                "overhead_ratio": round(seq_p50 / raw_p50, 2),
                "sdk_send_seq_p50_ms": round(sdk_p50, 2),
                "sdk_overhead_ratio": round(sdk_p50 / raw_p50, 2),
                **{f"{other}_{k}": v for k, v in other_run.items()
                   if k in ("msgs_per_s", "p50_ms", "p99_ms", "calls_per_msg")}}


Signal = multiprocessing.synchronize.Event


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def _flood(url: str, token: str, connections: int, flooding: Signal, stop: Signal,
                 out: multiprocessing.Queue[dict[int, int]]) -> None:
    counts: dict[int, int] = {}

    async def one() -> None:
        async with SessionOpener(url, token) as opener:
            while not stop.is_set():
                status = await opener.open()
                counts[status] = counts.get(status, 0) + 1
                flooding.set()

    await asyncio.gather(*(one() for _ in range(connections)))
    out.put(counts)


def flood_process(url: str, token: str, connections: int, flooding: Signal, stop: Signal,
                  out: multiprocessing.Queue[dict[int, int]]) -> None:
    asyncio.run(_flood(url, token, connections, flooding, stop, out))


async def flood_phase(url: str, others: dict[str, str], flood_token: str, per_agent: int,
                      connections: int, server_pid: int) -> tuple[dict[str, float], float,
                                                                  dict[int, int]]:
    """The ring load of ``others`` while a process of its own floods with ``flood_token``:
    the load's figures, the server's peak RSS meanwhile, the flooder's answer counts."""
    ctx = multiprocessing.get_context("spawn")
    flooding, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    flooder = ctx.Process(target=flood_process,
                          args=(url, flood_token, connections, flooding, stop, out))
    flooder.start()
    peak = 0.0
    try:
        # the flooder's own start-up (imports) is not the flood: measure once it floods
        if not await asyncio.to_thread(flooding.wait, 60):
            raise RuntimeError("the flooding process never got an answer from the bridge")
        await asyncio.sleep(0.5)

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_mb(server_pid))
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        try:
            load = await load_phase(url, others, per_agent, "ring", server_pid)
        finally:
            sampler.cancel()
    finally:
        stop.set()
    counts = await asyncio.to_thread(out.get, True, 30)
    flooder.join(10)
    return load, peak, counts


async def flood_run(agents: int, per_agent: int, connections: int, rounds: int
                    ) -> dict[str, object]:
    """Rounds of the ring load of a1..aN, quiet then while a0 floods (alternating, so the
    machine's other load weighs on both alike); ratio of the median p99s, and memory."""
    # the flood hits the very endpoint the others use (the harness's)
    with bus_server(agents, []) as (proc, url, info):
        tokens = info["tokens"]
        others = {name: tok for name, tok in tokens.items() if name != "a0"}
        await load_phase(url, others, max(20, per_agent // 10), "ring", proc.pid)  # warm up
        before = rss_mb(proc.pid)
        quiet: list[dict[str, float]] = []
        flooded: list[dict[str, float]] = []
        peak = before
        counts: dict[int, int] = {}
        for _ in range(rounds):
            quiet.append(await load_phase(url, others, per_agent, "ring", proc.pid))
            load, round_peak, round_counts = await flood_phase(
                url, others, tokens["a0"], per_agent, connections, proc.pid)
            flooded.append(load)
            peak = max(peak, round_peak)
            for status, n in round_counts.items():
                counts[status] = counts.get(status, 0) + n
        quiet_p99 = statistics.median(r["p99_ms"] for r in quiet)
        flood_p99 = statistics.median(r["p99_ms"] for r in flooded)
        return {"bench": "bus", "mode": "flood", "agents": agents, "rounds": rounds,
                "flood_connections": connections,
                "quiet_p99_ms": round(quiet_p99, 2), "flood_p99_ms": round(flood_p99, 2),
                "flood_p99_ratio": round(flood_p99 / quiet_p99, 2),
                "quiet_msgs_per_s": statistics.median(r["msgs_per_s"] for r in quiet),
                "flood_msgs_per_s": statistics.median(r["msgs_per_s"] for r in flooded),
                "core_rss_mb_before": round(before, 1),
                "flood_core_mb": round(peak - before, 1),
                "flood_opened": counts.get(200, 0), "flood_refused": counts.get(429, 0),
                "flood_other": sum(v for k, v in counts.items() if k not in (200, 429))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--agents", type=int, default=None)
    ap.add_argument("--messages", type=int, default=None, help="per agent")
    ap.add_argument("--pattern", choices=("all", "ring"), default="ring",
                    help="ring: each agent sends to the next; all: to every other in turn")
    ap.add_argument("--linger-ms", type=float, default=None,
                    help="bus.recv_linger_ms for the server (default: the product default)")
    ap.add_argument("--flood", action="store_true",
                    help="a0 floods the bridge with MCP sessions; the others' send p99 "
                         "against a quiet run (flood_p99_ratio) and the core's memory growth "
                         "(flood_core_mb)")
    ap.add_argument("--flood-connections", type=int, default=64,
                    help="connections the flooding agent opens sessions over")
    args = ap.parse_args()
    agents = args.agents or (4 if args.quick else 8)
    if agents < 2:
        ap.error("--agents must be at least 2: agents exchange messages")
    if args.flood:
        per = args.messages or (200 if args.quick else 1000)
        rounds = 2 if args.quick else 3
        print(json.dumps(asyncio.run(flood_run(agents, per, args.flood_connections, rounds))))
        return
    per = args.messages or (400 if args.quick else 1000)
    print(json.dumps(asyncio.run(run(agents, per, args.pattern, args.linger_ms))))


if __name__ == "__main__":
    main()
