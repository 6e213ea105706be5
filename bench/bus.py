"""bench/bus.py — N agents exchanging messages through the real MCP HTTP path.

Server (hive + bridge, uvicorn) runs in its own process; the agents are real MCP clients
(the `mcp` package over streamable HTTP) in this one. Beside it, a raw HTTP round trip
(GET /healthz on the same uvicorn, same HTTP client library) gives the baseline.

Phases: (1) raw HTTP round trips, one at a time; (2) MCP `send` calls, one at a time, on
the same server — ``overhead_ratio`` is (2)'s p50 over (1)'s, the cost of the MCP path for
one message; (3) N agents sending and long-polling at once — ``msgs_per_s`` and the
``p50_ms``/``p99_ms`` of a `send` under that load.
Last line: JSON with msgs_per_s, p50_ms, p99_ms, raw_http_p50_ms, overhead_ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (the server's own cost)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_http(url: str, n: int) -> list[float]:
    base = url.rsplit("/mcp", 1)[0]
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
    out = []
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        for i in range(20 + n):
            t0 = time.perf_counter()
            r = await client.call_tool("send", {"to": peer, "body": f"seq #{i}"})
            if i >= 20:
                out.append((time.perf_counter() - t0) * 1000)
            if r.is_error:
                raise RuntimeError(str(r.content))
    return out


async def drain(url: str, token: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        while (await client.call_tool("recv", {"wait_s": 0, "max": 100})
               ).structured_content.get("messages"):  # type: ignore[union-attr]
            pass


async def agent(url: str, name: str, token: str, peer: str, count: int,
                latencies: list[float], received: dict[str, int], calls: list[int]) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx2.Timeout(60.0)) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        async def sender() -> None:
            for i in range(count):
                t0 = time.perf_counter()
                r = await client.call_tool("send", {"to": peer, "body": f"{name} #{i}"})
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.is_error:
                    raise RuntimeError(str(r.content))

        async def receiver() -> None:
            while received[name] < count:
                r = await client.call_tool("recv", {"wait_s": 5, "max": 100})
                calls.append(1)
                received[name] += len((r.structured_content or {}).get("messages", []))

        await asyncio.gather(sender(), receiver())


async def run(agents: int, per_agent: int) -> dict[str, object]:
    state = Path(tempfile.mkdtemp(prefix="hivetui-bench-bus-"))
    server = os.environ.get("BENCH_BUS_SERVER", str(HERE / "_bus_server.py"))
    proc = subprocess.Popen([sys.executable, server, str(state), str(agents)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        url, tokens = info["url"], info["tokens"]
        raw = await raw_http(url, 300)
        seq = await sequential_sends(url, tokens["a0"], "a1", 300)
        await drain(url, tokens["a1"])
        # warm-up: one send per agent
        latencies: list[float] = []
        received = {n: 0 for n in tokens}
        names = list(tokens)
        calls: list[int] = []
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        await asyncio.gather(*[
            agent(url, n, tokens[n], names[(i + 1) % len(names)], per_agent, latencies, received,
                  calls)
            for i, n in enumerate(names)])
        elapsed = time.perf_counter() - t0
        server_cpu = cpu_seconds(proc.pid) - cpu0
        n_calls = len(latencies) + len(calls)
        total = sum(received.values())
        assert total == agents * per_agent, f"lost messages: {total} of {agents * per_agent}"
        raw_p50 = statistics.median(raw)
        seq_p50 = statistics.median(seq)
        p50 = statistics.median(latencies)
        return {"bench": "bus", "agents": agents, "messages": total,
                "msgs_per_s": round(total / elapsed, 1), "p50_ms": round(p50, 2),
                "p99_ms": round(pct(latencies, 0.99), 2), "raw_http_p50_ms": round(raw_p50, 2),
                "mcp_send_seq_p50_ms": round(seq_p50, 2),
                "server_cpu_ms_per_call": round(server_cpu * 1000 / n_calls, 3),
                "server_capacity_calls_per_s": round(n_calls / server_cpu) if server_cpu else None,
                "overhead_ratio": round(seq_p50 / raw_p50, 2), "elapsed_s": round(elapsed, 2)}
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--agents", type=int, default=None)
    ap.add_argument("--messages", type=int, default=None, help="per agent")
    args = ap.parse_args()
    agents = args.agents or (4 if args.quick else 8)
    per = args.messages or (150 if args.quick else 500)
    print(json.dumps(asyncio.run(run(agents, per))))


if __name__ == "__main__":
    main()
