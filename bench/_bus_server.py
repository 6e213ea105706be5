"""Server side of bench/bus.py: a hive with N agents and the bridge, in its own process."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from hivetui.bridge.server import Bridge
from hivetui.core.config import HiveConfig
from hivetui.core.hive import Hive


async def main(state: Path, agents: int) -> None:
    logging.basicConfig(level=logging.WARNING)  # as in production: no per-request logging
    cfg = HiveConfig()
    cfg.bus.max_inbox_depth = 1_000_000
    async with Hive(state, cfg) as hive:
        tokens = {}
        for i in range(agents):
            name = f"a{i}"
            await hive.registry.create(name, runtime="scripted:echo", model="m")
            tokens[name] = (hive.paths.agent_run(name) / "token").read_text().strip()
        bridge = Bridge(hive)
        hive.add_service("bridge", bridge.run)
        url = await bridge.ready()
        print(json.dumps({"url": url, "tokens": tokens}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
