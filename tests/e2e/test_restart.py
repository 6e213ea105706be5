"""A core restart is invisible to running agents: kill -9 or SIGTERM `hivetui serve` with
scripted agents running in real local containers, start it again, and every agent answers
a message within 5 s of the new core serving."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hivetui.containers.local import LocalBackend
from hivetui.control.client import ControlClient
from hivetui.core.hive import Hive
from hivetui.core.tool_surface import harness_url
from hivetui.node import HiveNode
from tests.mcp_util import agent_client
from tests.serve_util import serve, stop, wait_serving

pytestmark = pytest.mark.slow

WORKERS = ("w1", "w2", "w3")


async def _probe_token(state: Path) -> str:
    """A probe agent (no container) whose MCP client talks to the workers."""
    async with Hive(state) as hive:
        await hive.registry.create("probe", runtime="scripted:echo", model="m")
    return (state / "secrets" / "probe" / "token").read_text().strip()


async def _spawn_workers(state: Path) -> None:
    async with await ControlClient.connect(state / "run" / "control.sock") as ctl:
        for name in WORKERS:
            await ctl.spawn(name, "scripted:echo")


async def _answers(url: str, token: str, tag: str, timeout: float) -> dict[str, float]:
    """Send ``tag`` to every worker; seconds until each one's echo came back (the probe
    receives, as a harness does: on the harness's endpoint)."""
    start = time.monotonic()
    answered: dict[str, float] = {}
    async with agent_client(harness_url(url), token) as probe:
        for name in WORKERS:
            await probe.call("send", to=name, body=f"{tag} {name}")
        while len(answered) < len(WORKERS) and time.monotonic() - start < timeout:
            batch = (await probe.call("recv", wait_s=0.5, max=50))["messages"]
            for m in batch:
                if f"{tag} " in m["body"]:
                    answered.setdefault(m["sender"], time.monotonic() - start)
    return answered


async def _stop_containers(state: Path) -> None:
    async with HiveNode(state) as node:
        await node.stop_all()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_agents_answer_within_5s_of_a_restart(tmp_path: Path, how: int) -> None:
    state = tmp_path / "state"
    token = await _probe_token(state)
    proc = serve(state)
    try:
        url = await wait_serving(proc, state)
        await _spawn_workers(state)
        before = await _answers(url, token, "before", 30.0)
        assert set(before) == set(WORKERS), before
        stop(proc, how)
        proc = serve(state)
        url = await wait_serving(proc, state)
        after = await _answers(url, token, "after", 15.0)
        late = {n: after.get(n) for n in WORKERS if after.get(n, 99.0) > 5.0}
        assert not late, f"agents not answering within 5 s of the restart: {late}"
    finally:
        stop(proc, signal.SIGTERM)
        await _stop_containers(state)


_SQUAT = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("SQUATTING", flush=True)
time.sleep(120)
"""


async def _squat_from_inside(state: Path, name: str, port: int) -> asyncio.subprocess.Process:
    """A listener on 127.0.0.1:``port`` from inside ``name``'s container (the core is
    down: a backend of its own re-adopts the container); returns once it listens."""
    backend = LocalBackend(state / "containers")
    await backend.open()
    proc = await asyncio.create_subprocess_exec(
        *backend.shell_argv(name), "-c", 'exec "$1" -c "$2" "$3"', "sh",
        shutil.which("python3", path="/usr/bin:/bin") or "python3", _SQUAT, str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    await backend.aclose()
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line == b"SQUATTING\n", line
    return proc


async def test_an_agent_cannot_squat_the_bridge_while_the_core_is_down(tmp_path: Path) -> None:
    """The core is killed; w1 listens on the bridge's TCP port from inside its container.
    That is w1's own loopback, not the host's: the restarted core listens on its port
    again, no agent's bridge.json changes, and every agent answers through the real bridge
    (with a shared network the squatter would hold the port and the core would move)."""
    state = tmp_path / "state"
    token = await _probe_token(state)
    proc = serve(state)
    squatter = None
    try:
        url = await wait_serving(proc, state)
        await _spawn_workers(state)
        assert set(await _answers(url, token, "before", 30.0)) == set(WORKERS)
        told = {n: (state / "secrets" / n / "bridge.json").read_bytes() for n in WORKERS}
        stop(proc, signal.SIGKILL)
        squatter = await _squat_from_inside(state, "w1", int(urlsplit(url).port or 0))
        proc = serve(state)
        assert await wait_serving(proc, state) == url
        assert {n: (state / "secrets" / n / "bridge.json").read_bytes()
                for n in WORKERS} == told
        assert set(await _answers(url, token, "after", 15.0)) == set(WORKERS)
    finally:
        if squatter is not None and squatter.returncode is None:
            os.killpg(squatter.pid, signal.SIGKILL)
            await squatter.wait()
        stop(proc, signal.SIGTERM)
        await _stop_containers(state)


async def test_bridge_keeps_its_port_and_tells_agents_when_it_cannot(tmp_path: Path) -> None:
    """The port of the last run is reused; taken, another one is picked and every
    agent's bridge.json says so to host-network containers (``host_url``), while what a
    private-network container is told (``url``, a forwarded port) stays the same."""
    state = tmp_path / "state"
    async with Hive(state) as hive:
        await hive.registry.create("w1", runtime="scripted:echo", model="m")
    first = await _bridge_url(state)
    port = int(first.rsplit(":", 1)[1].split("/")[0])
    run_dir = state / "secrets" / "w1"
    if os.geteuid() == 0:  # as a root core finds it: the run dir is the container uid's
        os.chown(run_dir, 4242, 4242)
    unchanged = (run_dir / "bridge.json").stat().st_ino
    assert await _bridge_url(state) == first
    assert (run_dir / "bridge.json").stat().st_ino == unchanged  # not rewritten needlessly
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)
    try:
        moved = await _bridge_url(state)
    finally:
        squatter.close()
    assert moved != first
    written = json.loads((run_dir / "bridge.json").read_text())
    assert (written["url"], written["host_url"]) == ("http://127.0.0.1:7801/mcp", moved)
    assert (run_dir / "bridge.json").stat().st_uid == run_dir.stat().st_uid


async def _bridge_url(state: Path) -> str:
    async with HiveNode(state) as node:  # the local backend, no container started
        return node.bridge.url
