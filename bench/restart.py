"""bench/restart.py — kill -9 the core under running agents; how long until all is back?

A real ``hivetui serve`` (subprocess) on the local backend with ``--agents`` scripted:echo
agents in real containers, talked to by a probe agent (a real MCP client of the bridge,
no container). Each agent is sent a message just before the core is killed with SIGKILL
(acknowledged by the bus, not yet answered); then the core is started again.

Fields of the last line (one JSON object):

* ``restart_s``: from the kill until the new core's control socket answers a request;
* ``reconnect_p50_s`` / ``reconnect_p99_s``: from that moment until each agent answers a
  new message sent then (the bridge came up, the agent found it, received, ran a turn and
  sent its reply);
  ``reconnect_from_kill_p99_s`` is the same counted from the kill;
* ``lost``: messages acknowledged by the bus (before the kill or after the restart) that
  no agent ever answered;
* ``import_s``: the baseline, measured in the same run: a bare interpreter importing what
  ``hivetui serve`` needs (the control socket answers before the bridge's share of it is
  imported; the bridge, so every agent, waits for all of it).

Goals: restart_s <= 2, reconnect_p99_s <= 5, lost 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hivetui.control.client import ControlClient
from hivetui.core.errors import ControlError
from hivetui.core.hive import Hive
from hivetui.core.tool_surface import harness_url
from hivetui.harness.client import BridgeUnreachable, HiveClient
from hivetui.node import HiveNode

ANSWER_TIMEOUT_S = 30.0


def serve(state: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(state.parent / "noconfig")}
    with open(state.parent / "serve.log", "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hivetui", "serve", "--state-dir", str(state)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)


async def control_answers(state: Path, proc: subprocess.Popen[bytes]) -> None:
    """Return once the control socket answers ``agents``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}; see {state.parent}")
        try:
            async with await ControlClient.connect(state / "run" / "control.sock") as c:
                await c.agents()
                return
        except (OSError, ControlError):
            await asyncio.sleep(0.01)
    raise SystemExit("serve did not answer within 60 s")


def bridge_url(state: Path) -> str:
    """The harness's endpoint (receiving is the harness's, not the model's)."""
    return harness_url(str(json.loads((state / "run" / "bridge.json").read_text())["url"]))


class Probe:
    """The probe agent: sends tagged messages, collects the echoes by tag."""

    def __init__(self, state: Path, token: str) -> None:
        self.state = state
        self.token = token
        self.answered: dict[str, float] = {}  # body sent -> monotonic time of its echo
        self._acked = 0

    async def connected(self) -> HiveClient:
        """A client of the bridge, retrying while the (re)starting core brings it up."""
        deadline = time.monotonic() + 60
        while True:
            client = HiveClient(bridge_url(self.state), self.token)
            try:
                await client.connect()
                return client
            except BridgeUnreachable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def send_all(self, agents: list[str], tag: str) -> list[str]:
        bodies = [f"{tag} {name}" for name in agents]
        client = await self.connected()
        try:
            for name, body in zip(agents, bodies, strict=True):
                await client.send(name, body)  # returns once committed
        finally:
            await client.aclose()
        return bodies

    async def collect(self, wanted: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = await self.connected()
        try:
            while any(b not in self.answered for b in wanted) \
                    and time.monotonic() < deadline:
                for m in await client.recv(0.5, 100, ack=self._acked):
                    self._acked = max(self._acked, m.id)
                    body = m.body.removeprefix("echo: ")
                    self.answered.setdefault(body, time.monotonic())
        finally:
            await client.aclose()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def baseline_import_s() -> float:
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import hivetui.cli, hivetui.node, hivetui.bridge.server")
    await proc.wait()
    return time.monotonic() - start


async def run(n_agents: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="hivetui-bench-restart-"))
    state = root / "state"
    agents = [f"a{i}" for i in range(n_agents)]
    async with Hive(state) as hive:
        await hive.registry.create("probe", runtime="scripted:echo", model="m")
    probe = Probe(state, (state / "secrets" / "probe" / "token").read_text().strip())
    proc = serve(state)
    try:
        await control_answers(state, proc)
        async with await ControlClient.connect(state / "run" / "control.sock") as c:
            await asyncio.gather(*(c.spawn(name, "scripted:echo") for name in agents))
        warm = await probe.send_all(agents, "warm-up")
        await probe.collect(warm, ANSWER_TIMEOUT_S)
        assert all(b in probe.answered for b in warm), "agents did not answer before the kill"
        in_flight = await probe.send_all(agents, "in-flight")
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = serve(state)
        await control_answers(state, proc)
        up = time.monotonic()
        after = await probe.send_all(agents, "after")
        await probe.collect(in_flight + after, ANSWER_TIMEOUT_S)
        reconnect = [probe.answered[b] - up for b in after if b in probe.answered]
        lost = sum(b not in probe.answered for b in in_flight + after)
        return {
            "agents": n_agents,
            "restart_s": round(up - killed, 3),
            "reconnect_p50_s": round(statistics.median(reconnect), 3) if reconnect else None,
            "reconnect_p99_s": round(quantile(reconnect, 0.99), 3) if reconnect else None,
            "reconnect_from_kill_p99_s": round(quantile(reconnect, 0.99) + up - killed, 3)
            if reconnect else None,
            "lost": lost,
            "import_s": round(await baseline_import_s(), 3),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        async with HiveNode(state) as node:
            await node.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20 agents (< 60 s); else 40")
    ap.add_argument("--agents", type=int, default=None)
    args = ap.parse_args()
    n_agents = args.agents or (20 if args.quick else 40)
    print(json.dumps(asyncio.run(run(n_agents))), flush=True)


if __name__ == "__main__":
    main()
