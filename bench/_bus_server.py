"""Server side of bench/bus.py: a hive with N agents and the bridge, in its own process."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from hivetui.bridge.server import Bridge
from hivetui.cli import setup_logging
from hivetui.core.config import HiveConfig
from hivetui.core.hive import Hive
from hivetui.core.paths import StatePaths


async def main(state: Path, agents: int, linger_ms: float | None) -> None:
    # As `hivetui serve` logs: INFO to <state>/hivetui.log, so any per-request INFO line
    # in the server path costs here what it costs in production.
    setup_logging(StatePaths(state), verbose=False)
    cfg = HiveConfig()
    cfg.bus.max_inbox_depth = 1_000_000
    if linger_ms is not None:
        cfg.bus.recv_linger_ms = linger_ms
    async with Hive(state, cfg) as hive:
        tokens = {}
        for i in range(agents):
            name = f"a{i}"
            await hive.registry.create(name, runtime="scripted:echo", model="m")
            tokens[name] = (hive.paths.agent_run(name) / "token").read_text().strip()
        bridge = Bridge(hive)
        hive.add_service("bridge", bridge.run)
        url = await bridge.ready()
        print(json.dumps({"url": url, "tokens": tokens,
                          "recv_linger_ms": cfg.bus.recv_linger_ms}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    linger = float(sys.argv[3]) if len(sys.argv) > 3 else None
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), linger))
