"""bench/crash.py — kill containers repeatedly; measure kill → container_crash latency.

Real local backend (namespaces), a real hive core with crash_watch. Each round SIGKILLs a
worker's main process (a crash), waits for the ``container_crash`` event, then restarts the
worker as an operator would; between rounds other workers are stopped/started/restarted
on purpose, which must produce no crash event (``false_crashes``).
Modes: ``event`` (the backend's pidfd exit stream, with polling as the backstop) and
``poll`` (exit stream withheld: crash_watch polls ``running()`` every ``--interval`` s).
Last line: JSON with backend, mode, p50_s, p99_s, false_crashes (the event mode; the poll
mode's figures are nested under "poll" and printed on the line before).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hivetui.containers import procinfo
from hivetui.containers.local import LocalBackend
from hivetui.core.config import HiveConfig
from hivetui.core.events import ContainerCrash
from hivetui.core.ports import ContainerExit
from hivetui.node import HiveNode


class PollOnly:
    """The local backend with its exit stream withheld: crash_watch must poll."""

    def __init__(self, inner: LocalBackend) -> None:
        self._inner = inner
        self.name = inner.name

    def exits(self) -> AsyncIterator[ContainerExit] | None:
        return None

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def main_pid(backend: LocalBackend, name: str) -> int:
    info = backend._dir(name).container()
    assert info is not None, f"{name} has no running container"
    # the first process leads a session of its own; init's other child (the network
    # forwarder) does not, and killing it is no crash (init starts it again)
    kids = [k for k in procinfo.children(int(info["pid"])) if os.getsid(k) == k]
    assert kids, f"{name}: container has no main process yet"
    return kids[0]


async def run(mode: str, rounds: int, workers: int, interval: float) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix=f"hivetui-bench-crash-{mode}-"))
    cfg = HiveConfig()
    cfg.crash_watch.interval_s = interval
    cfg.crash_watch.loop_count = 10_000  # measuring detection, not crash-loop policy
    local = LocalBackend(state / "agents", stop_timeout=3.0)
    backend: Any = local if mode == "event" else PollOnly(local)
    names = [f"w{i}" for i in range(workers)]
    latencies: list[float] = []
    rng = random.Random(7)
    crashes: list[ContainerCrash] = []
    async with HiveNode(state, cfg, backend=backend) as node:
        lc = node.hive.lifecycle
        assert lc is not None
        sub = node.hive.hub.subscribe()

        async def collect() -> None:
            while True:
                ev = await sub.get()
                if isinstance(ev, ContainerCrash):
                    crashes.append(ev)
                    got[ev.agent].set()

        got = {n: asyncio.Event() for n in names}
        collector = asyncio.create_task(collect())
        try:
            for n in names:
                await lc.spawn(n, runtime="scripted:echo", model="m")
            await asyncio.sleep(1.0 if mode == "event" else interval + 0.5)
            for r in range(rounds):
                victim = names[r % len(names)]
                other = names[(r + 1) % len(names)]
                for ev in got.values():
                    ev.clear()
                if mode == "poll":
                    # a crash comes at any moment of the poll cycle: sample it uniformly
                    await asyncio.sleep(rng.uniform(0, interval))
                pid = main_pid(local, victim)
                t0 = time.monotonic()
                os.kill(pid, signal.SIGKILL)
                await asyncio.wait_for(got[victim].wait(), interval * 3 + 10)
                latencies.append(time.monotonic() - t0)
                # deliberate operations: none of them may look like a crash
                if len(names) > 1:
                    if r % 3 == 0:
                        await lc.restart(other)
                    elif r % 3 == 1:
                        await lc.stop(other)
                        await lc.start(other)
                    else:
                        await lc.rebuild(other)
                await lc.restart(victim)
                # a poller only sees a crash of a container it saw running: let a poll pass
                await asyncio.sleep(0.3 if mode == "event" else interval + 0.3)
            await asyncio.sleep(interval + 0.5)  # let a late poll report anything pending
        finally:
            collector.cancel()
            await node.stop_all()
    false = len(crashes) - len(latencies)
    return {"bench": "crash", "backend": "local", "mode": mode,
            "interval_s": interval, "rounds": rounds,
            "p50_s": round(statistics.median(latencies), 4),
            "p99_s": round(sorted(latencies)[min(len(latencies) - 1,
                                                 int(0.99 * len(latencies)))], 4),
            "false_crashes": false}


def main() -> None:
    logging.basicConfig(level=os.environ.get("BENCH_LOG", "WARNING"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--mode", choices=["event", "poll", "both"], default="both")
    ap.add_argument("--interval", type=float, default=2.0, help="crash_watch poll interval")
    args = ap.parse_args()
    rounds = 8 if args.quick else 30
    workers = 2 if args.quick else 3
    poll = None
    if args.mode in ("poll", "both"):
        poll = asyncio.run(run("poll", max(4, rounds // 2), workers, args.interval))
        poll["target_p50_s"] = args.interval / 2 + 0.2
        print(json.dumps(poll), flush=True)
    if args.mode in ("event", "both"):
        result = asyncio.run(run("event", rounds, workers, 10.0))
        if poll is not None:
            result["poll"] = poll
        print(json.dumps(result))


if __name__ == "__main__":
    main()
