"""Helpers for tests that run a harness against a real hive and bridge."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hivetui.bridge.server import Bridge
from hivetui.core.hive import Hive

MODEL = "m-default"


async def make_agent(hive: Hive, bridge: Bridge, name: str, runtime: str,
                     role: str = "worker", model: str = MODEL) -> tuple[Path, Path]:
    """Register an agent and write its run dir as the core does (token, bridge, agent)."""
    agent = await hive.registry.create(name, role=role, runtime=runtime, model=model)
    run = hive.paths.agent_run(name)
    (run / "bridge.json").write_text(json.dumps({"url": bridge.url}))
    settings = {"runtime": runtime, "model": model}
    (run / "agent.json").write_text(json.dumps({
        "name": agent.name, "role": role, "runtime": runtime, "settings": settings,
        "harness": {"retry_backoff_s": 0.0}}))  # failed turns retry at once in tests
    state = hive.paths.agent_state(name)
    state.mkdir(parents=True, exist_ok=True)
    return run, state


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def operator_inbox(hive: Hive) -> list[tuple[str, str]]:
    return [(m.sender, m.body) for m in await hive.bus.history("operator")
            if m.recipient == "operator"]
