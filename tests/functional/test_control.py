"""The control socket: operators only, JSON lines, the `ctl` command line."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.control.client import ControlClient
from hivetui.control.server import ControlServer
from hivetui.core.errors import ControlError, HiveError, NotFoundError, PermissionDenied
from hivetui.core.events import MessageSent
from hivetui.core.hive import Hive


@pytest.fixture
async def control(hive: Hive) -> AsyncIterator[ControlServer]:
    server = ControlServer(hive)
    hive.add_service("control", server.run)
    await server.ready()
    yield server


async def test_socket_is_0600_in_a_0700_dir(control: ControlServer) -> None:
    mode = os.stat(control.path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(control.path.parent).st_mode) == 0o700


async def test_client_roundtrip_and_events(hive: Hive, control: ControlServer) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    async with await ControlClient.connect(control.path) as api:
        assert api.operator.startswith("local:") and not api.read_only
        events = api.events()
        first = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.1)
        msg = await api.send("alice", "hello")
        assert msg.recipient == "alice" and msg.kind == "operator"
        ev = await asyncio.wait_for(first, 5)
        assert isinstance(ev, MessageSent) and ev.body == "hello"
        await events.aclose()
        (agent,) = await api.agents()
        assert agent.name == "alice" and agent.inbox_depth == 1
        assert [m.body for m in await api.inbox("alice")] == ["hello"]
        with pytest.raises(NotFoundError, match="no agent named 'zed'"):
            await api.agent("zed")
        view = await api.set_model("alice", "claude-opus-4", persist=True)
        assert view.effective_model == "claude-opus-4"
        assert (hive.paths.agent_state("alice") / "model").read_text().strip() == "claude-opus-4"
        audit = await api.audit()
        assert audit[-1].action == "set_model" and audit[-1].actor == api.operator


async def test_bad_requests_get_clear_errors(control: ControlServer) -> None:
    reader, writer = await asyncio.open_unix_connection(str(control.path))
    for line, expect in [(b"not json\n", "not valid JSON"),
                         (b"[1,2]\n", "must be a JSON object"),
                         (b'{"id": 1, "op": "fly", "args": {}}\n', "unknown operation 'fly'"),
                         (b'{"id": 2, "op": "send", "args": {"name": "x"}}\n',
                          "missing arguments ['text']"),
                         (b'{"id": 3, "op": "agents", "args": {"x": 1}}\n', "unknown arguments")]:
        writer.write(line)
        await writer.drain()
        reply = json.loads(await reader.readline())
        assert reply["ok"] is False and expect in reply["error"]["message"], reply
    writer.write(b'{"id": 9, "op": "agents", "args": {}}\n')
    await writer.drain()
    assert json.loads(await reader.readline())["ok"] is True  # connection still fine
    writer.close()


async def test_session_tokens_carry_identity_and_role(hive: Hive, control: ControlServer
                                                      ) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    token = control.sessions.issue("ssh:bob", read_only=True)
    async with await ControlClient.connect(control.path, session_token=token) as api:
        assert api.operator == "ssh:bob" and api.read_only
        assert len(await api.agents()) == 1  # sees everything
        with pytest.raises(PermissionDenied, match="'ssh:bob' is read-only"):
            await api.send("alice", "hi")
        with pytest.raises(PermissionDenied):
            await api.approve(1)
    with pytest.raises(ControlError, match="unknown session token"):
        await ControlClient.connect(control.path, session_token="forged")


def _ctl(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(state),
                           *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


async def test_ctl_send_and_inbox(hive: Hive, control: ControlServer) -> None:
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    await hive.bus.send("alice", "operator", "status: fine")
    out = await asyncio.to_thread(_ctl, hive.paths.root, "send", "alice", "do the thing")
    assert out.returncode == 0, out.stderr
    assert "sent #" in out.stdout
    out = await asyncio.to_thread(_ctl, hive.paths.root, "inbox", "alice", "--json")
    assert out.returncode == 0, out.stderr
    bodies = [m["body"] for m in json.loads(out.stdout)]
    assert bodies == ["status: fine", "do the thing"]
    out = await asyncio.to_thread(_ctl, hive.paths.root, "agents", "--json")
    assert json.loads(out.stdout)[0]["inbox_depth"] == 1
    out = await asyncio.to_thread(_ctl, hive.paths.root, "send", "nobody", "x")
    assert out.returncode == 1
    assert out.stderr.strip().endswith("unknown recipient 'nobody': must be an agent of this "
                                       "hive or 'operator'")


def test_ctl_without_a_hive_says_so(tmp_path: Path) -> None:
    out = _ctl(tmp_path, "agents")
    assert out.returncode == 1
    assert "no hive is serving" in out.stderr and "hivetui serve" in out.stderr


async def test_operator_spawn_refuses_kept_and_draft_names(tmp_path: Path) -> None:
    from hivetui.core.operator import Operator, OperatorSession
    from tests.fakes.memory_backend import FakeMemoryBackend

    async with Hive(tmp_path, backend=FakeMemoryBackend()) as hive:
        api = OperatorSession(hive, Operator("tester"))
        await api.spawn("boss", "scripted:manager", manager=True)
        await api.spawn("old", "scripted:echo")
        await api.destroy("old")
        assert await api.kept() == ["old"]
        with pytest.raises(HiveError, match="'old' is a kept agent: revive it"):
            await api.spawn("old", "scripted:echo")
        await hive.approvals.request_spawn_draft("boss", "drf")
        with pytest.raises(HiveError, match="'drf' is a spawn draft"):
            await api.spawn("drf", "scripted:echo")
        revived = await api.revive("old")
        assert revived.name == "old"
