"""`hivetui ctl` prints agent text shown, never interpreted (issue 15, point 3).

The real ``ctl`` (a subprocess) against a real core (hive, sqlite, control socket); its
stdout bytes must hold no ESC, no other C0 control but the newlines it writes itself, and
no C1 control in either UTF-8 or raw form, with and without ``--json``.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.control.server import ControlServer
from hivetui.core.hive import Hive
from tests.fakes.memory_backend import FakeMemoryBackend

PAYLOAD = "A\x1b]2;pwned\x07B\x1b[31mred\x1b[0mC\x9b31m\x9d2;c1\x9cDvisible\rforged\nline2"
#: C0 but \n, DEL, and C1 as UTF-8 (U+0080-U+009F is C2 80..C2 9F)
FORBIDDEN = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Hive]:
    backend = FakeMemoryBackend()  # fake: containers; only `ctl logs` reads it
    async with Hive(tmp_path / "state", backend=backend) as hive:
        server = ControlServer(hive)
        hive.add_service("control", server.run)
        await server.ready()
        await hive.registry.create("alice", runtime="scripted:echo", model="m")
        await hive.registry.create("boss", role="manager", runtime="scripted:echo", model="m")
        await hive.registry.update("alice", status="idle", status_detail=PAYLOAD,
                                   model_override=PAYLOAD)
        await hive.bus.send("alice", "operator", PAYLOAD)
        await hive.questions.ask("boss", PAYLOAD, [PAYLOAD, "no"])
        backend.log_lines["alice"] = [PAYLOAD]
        yield hive


def ctl(state: Path, *args: str) -> bytes:
    out = subprocess.run([sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(state),
                          *args], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


def assert_clean(stdout: bytes) -> None:
    bad = FORBIDDEN.search(stdout)
    assert bad is None, f"{bad.group()!r} reaches the terminal in {stdout[:300]!r}"


@pytest.mark.parametrize("command", [("inbox", "alice"), ("questions",), ("agents",),
                                     ("logs", "alice")])
async def test_ctl_shows_agent_escapes_visibly(core: Hive, command: tuple[str, ...]) -> None:
    human = await asyncio.to_thread(ctl, core.paths.root, *command)
    assert_clean(human)
    assert "␛]2;pwned".encode() in human or "␛]2;pw".encode() in human
    machine = await asyncio.to_thread(ctl, core.paths.root, *command, "--json")
    assert_clean(machine)
    if command[0] == "inbox":  # the JSON still carries the exact body
        assert json.loads(machine)[0]["body"] == PAYLOAD
        assert human.count(b"\n") == 1  # one message, one line: its \n is shown as ␊


async def test_ctl_events_shows_agent_escapes_visibly(core: Hive) -> None:
    for as_json in ((), ("--json",)):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(core.paths.root),
            "events", *as_json, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL)
        communicate = asyncio.ensure_future(proc.communicate())
        while not communicate.done():  # until ctl has subscribed and printed one event
            await hive_send(core)
            await asyncio.wait({communicate}, timeout=0.2)
        stdout, stderr = communicate.result()
        assert proc.returncode == 0, stderr.decode()
        assert b"message" in stdout
        assert_clean(stdout)


async def hive_send(hive: Hive) -> None:
    await hive.bus.send("alice", "boss", PAYLOAD)
