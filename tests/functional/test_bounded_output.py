"""Bounded output: refusals quote input up to a limit; every log rotates by size."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hivetui.bridge.server import Bridge
from hivetui.cli import setup_logging
from hivetui.containers.local import LocalBackend
from hivetui.containers.logfile import follow_lines, tail_lines
from hivetui.control.client import ControlClient
from hivetui.control.server import ControlServer
from hivetui.core.bounded import quoted
from hivetui.core.config import LogsConfig
from hivetui.core.errors import HarnessError, HiveError, NotFoundError
from hivetui.core.hive import Hive
from hivetui.core.paths import StatePaths
from hivetui.harness.client import HiveClient
from tests.functional.test_local_backend import make_spec, wait_for

BIG = 3 * 1024 * 1024  # 3 MiB
CAP = 64 * 1024


def test_quoted_keeps_short_input_and_cuts_long_input() -> None:
    assert quoted("bob") == "'bob'"
    long = quoted("x" * BIG)
    assert long.startswith("'xxx") and long.endswith(f"… ({BIG} chars)") and len(long) < 100
    assert quoted({"k": "v" * 1000}).endswith("(1009 chars)")


async def test_a_3mib_recipient_is_quoted_short_in_replies_and_logs(
        hive: Hive, bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    token = (hive.paths.agent_run("ann") / "token").read_text().strip()
    caplog.set_level(logging.INFO)
    async with HiveClient(bridge.url, token) as ann:
        for _ in range(5):
            with pytest.raises(HarnessError) as info:
                await ann.send("r" * BIG, "hello")
            text = str(info.value)
            assert f"({BIG} chars)" in text and len(text) < 400, text[:500]
    server = ControlServer(hive)
    hive.add_service("control", server.run)
    await server.ready()
    async with await ControlClient.connect(server.path) as api:
        with pytest.raises(NotFoundError) as found:
            await api.agent("n" * BIG)
        assert f"({BIG} chars)" in str(found.value) and len(str(found.value)) < 200
        with pytest.raises(HiveError):  # audited before it is refused
            await api.stop("s" * BIG)
    assert caplog.records and max(len(r.getMessage()) for r in caplog.records) < 1000


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_core_log_rotates_at_its_cap(tmp_path: Path, restore_logging: None) -> None:
    paths = StatePaths(tmp_path / "state")
    setup_logging(paths, verbose=False, logs=LogsConfig(core_max_bytes=CAP, keep=2))
    log = logging.getLogger("hivetui.test")
    for i in range(3000):
        log.info("line %05d %s", i, "x" * 200)
    files = sorted(p.name for p in paths.log_dir.iterdir() if p.is_file())
    assert files == ["hivetui.log", "hivetui.log.1", "hivetui.log.2"]
    assert all((paths.log_dir / f).stat().st_size <= CAP for f in files)
    assert "line 02999" in (paths.log_dir / "hivetui.log").read_text()


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def _text_now(path: Path) -> str:
    """``path``'s text; "" in the instant of a rotation (renamed, not yet created again)."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


async def test_agent_and_supervisor_logs_rotate_at_their_caps(tmp_path: Path) -> None:
    root = tmp_path / "agents"
    logs = LogsConfig(agent_max_bytes=CAP, supervisor_max_bytes=CAP, keep=2)
    backend = LocalBackend(root, tool="bwrap", stop_timeout=2.0, log_caps=logs)
    spec = make_spec(tmp_path, "chatty", "i=0; while [ $i -lt 4000 ]; do "
                     "echo \"line $i aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; "
                     "i=$((i+1)); done; echo last-line; exec sleep 60")
    await backend.create(spec)
    # a supervisor.log left over from earlier runs, past its cap
    supervisor_log = root / "chatty" / "supervisor" / "supervisor.log"
    supervisor_log.write_bytes(b"old failure\n" * 10_000)
    follower = follow_lines(spec.log_file, poll_s=0.02)
    followed: list[str] = []

    async def follow() -> None:
        async for line in follower:
            followed.append(line)

    following = asyncio.create_task(follow())
    try:
        await backend.start("chatty")
        await wait_for(lambda: "last-line" in _text_now(spec.log_file), 30)
        await wait_for(lambda: any("last-line" in line for line in followed), 5)
    finally:
        following.cancel()
        await backend.stop("chatty")
        await backend.aclose()
    agent_logs = sorted(p.name for p in spec.log_file.parent.iterdir()
                        if p.name.startswith("container.log"))
    assert agent_logs == ["container.log", "container.log.1", "container.log.2"]
    for name in agent_logs:
        assert (spec.log_file.parent / name).stat().st_size <= CAP
    assert supervisor_log.stat().st_size < CAP
    assert supervisor_log.with_name("supervisor.log.1").read_bytes().startswith(b"old failure")


def test_the_tail_of_a_just_rotated_log_reaches_into_the_previous_file(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.with_name("a.log.1").write_text("".join(f"old {i}\n" for i in range(10)))
    log.write_text("new 0\n")
    assert tail_lines(log, 4) == ["old 7", "old 8", "old 9", "new 0"]
    assert tail_lines(log, 1) == ["new 0"]
    log.unlink()
    assert tail_lines(log, 2) == ["old 8", "old 9"]
