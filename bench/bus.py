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
import shutil
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
               ).structured_content.get("messages"):
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


async def load_phase(url: str, assigned: list[tuple[str, str, str]], per_agent: int
                     ) -> tuple[list[float], dict[str, int], list[int]]:
    """Run the given agents (name, token, peer) sending and long-polling at once."""
    latencies: list[float] = []
    received = {name: 0 for name, _, _ in assigned}
    calls: list[int] = []
    await asyncio.gather(*[agent(url, name, token, peer, per_agent, latencies, received, calls)
                           for name, token, peer in assigned])
    return latencies, received, calls


def worker() -> None:
    """A client process of the load phase: reads its job from stdin, waits for "go"."""
    job = json.loads(sys.stdin.readline())
    print("ready", flush=True)
    sys.stdin.readline()
    cpu0 = time.process_time()
    lat, received, calls = asyncio.run(load_phase(job["url"], job["assigned"], job["per_agent"]))
    print(json.dumps({"latencies": lat, "received": received, "calls": len(calls),
                      "cpu_s": time.process_time() - cpu0}), flush=True)


async def multi_process_load(url: str, assigned: list[tuple[str, str, str]], per_agent: int,
                             procs: int) -> tuple[list[float], dict[str, int], int, float, float]:
    """The load phase spread over ``procs`` client processes, all started before the clock."""
    workers = [subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    try:
        for i, w in enumerate(workers):
            assert w.stdin is not None and w.stdout is not None
            w.stdin.write(json.dumps({"url": url, "assigned": assigned[i::procs],
                                      "per_agent": per_agent}) + "\n")
            w.stdin.flush()
        for w in workers:
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        t0 = time.perf_counter()
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        outs = [json.loads(await asyncio.to_thread(w.stdout.readline))  # type: ignore[union-attr]
                for w in workers]
        elapsed = time.perf_counter() - t0
    finally:
        for w in workers:
            if w.stdin:
                w.stdin.close()
            w.wait(10)
    latencies = [x for o in outs for x in o["latencies"]]
    received = {k: v for o in outs for k, v in o["received"].items()}
    calls = sum(o["calls"] for o in outs)
    return latencies, received, calls, elapsed, sum(o["cpu_s"] for o in outs)


async def run(agents: int, per_agent: int, client_procs: int) -> dict[str, object]:
    state = Path(tempfile.mkdtemp(prefix="hivetui-bench-bus-"))
    server = os.environ.get("BENCH_BUS_SERVER", str(HERE / "_bus_server.py"))
    proc = subprocess.Popen([sys.executable, server, str(state), str(agents)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and not line.startswith("{"):  # a profiler wrapping the server may talk
            line = proc.stdout.readline()
        info = json.loads(line)
        url, tokens = info["url"], info["tokens"]
        raw = await raw_http(url, 300)
        seq = await sequential_sends(url, tokens["a0"], "a1", 300)
        await drain(url, tokens["a1"])
        names = list(tokens)
        assigned = [(n, tokens[n], names[(i + 1) % len(names)]) for i, n in enumerate(names)]
        cpu0 = cpu_seconds(proc.pid)
        if client_procs <= 1:
            client0 = time.process_time()
            t0 = time.perf_counter()
            latencies, received, call_list = await load_phase(url, assigned, per_agent)
            elapsed = time.perf_counter() - t0
            client_cpu = time.process_time() - client0
            recv_calls = len(call_list)
        else:
            latencies, received, recv_calls, elapsed, client_cpu = await multi_process_load(
                url, assigned, per_agent, client_procs)
        server_cpu = cpu_seconds(proc.pid) - cpu0
        n_calls = len(latencies) + recv_calls
        total = sum(received.values())
        assert total == agents * per_agent, f"lost messages: {total} of {agents * per_agent}"
        raw_p50 = statistics.median(raw)
        seq_p50 = statistics.median(seq)
        p50 = statistics.median(latencies)
        return {"bench": "bus", "agents": agents, "client_procs": max(1, client_procs),
                "messages": total, "calls": n_calls,
                "msgs_per_s": round(total / elapsed, 1), "p50_ms": round(p50, 2),
                "p99_ms": round(pct(latencies, 0.99), 2), "raw_http_p50_ms": round(raw_p50, 2),
                "mcp_send_seq_p50_ms": round(seq_p50, 2),
                "server_cpu_ms_per_call": round(server_cpu * 1000 / n_calls, 3),
                "client_cpu_ms_per_call": round(client_cpu * 1000 / n_calls, 3),
                "server_capacity_calls_per_s": round(n_calls / server_cpu) if server_cpu else None,
                "overhead_ratio": round(seq_p50 / raw_p50, 2), "elapsed_s": round(elapsed, 2)}
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--agents", type=int, default=None)
    ap.add_argument("--messages", type=int, default=None, help="per agent")
    ap.add_argument("--client-procs", type=int, default=1,
                    help="client processes for the load phase (agents split between them)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker()
        return
    agents = args.agents or (4 if args.quick else 8)
    per = args.messages or (150 if args.quick else 500)
    print(json.dumps(asyncio.run(run(agents, per, args.client_procs))))


if __name__ == "__main__":
    main()
