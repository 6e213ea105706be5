"""Requests that used to go unanswered, and the client's timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hivetui.control.client import ControlClient
from hivetui.control.server import ControlServer
from hivetui.core.errors import ControlError, HiveError
from hivetui.core.hive import Hive
from tests.fakes.memory_backend import FakeMemoryBackend


@contextlib.contextmanager
def small_fs(point: Path, size: str = "4m") -> Iterator[Path]:
    """A real tmpfs of ``size`` at ``point``: writes past it fail with ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(directory: Path) -> None:
    """Write until the filesystem is full."""
    with open(directory / "ballast", "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()


async def test_spawn_on_a_full_disk_is_answered(tmp_path: Path) -> None:
    with small_fs(tmp_path / "fs") as fs:
        async with Hive(fs / "state", backend=FakeMemoryBackend()) as hive:
            server = ControlServer(hive)
            hive.add_service("control", server.run)
            await server.ready()
            async with await ControlClient.connect(server.path, timeout_s=20) as api:
                await api.spawn("ann", "scripted:echo")
                fill(fs)
                t0 = time.monotonic()
                with pytest.raises(HiveError) as info:
                    await api.spawn("bob", "scripted:echo")
                assert time.monotonic() - t0 < 20
                text = str(info.value)
                assert text.startswith("spawn: the disk holding the hive's state is full ("), text
                assert len(text) < 500
                (fs / "ballast").unlink()
                assert "ann" in [a.name for a in await api.agents()]


async def test_the_client_names_the_request_that_timed_out(tmp_path: Path) -> None:
    """A stand-in for a hung core: a socket that reads requests and never answers."""
    path = tmp_path / "control.sock"

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readline():
            pass

    server = await asyncio.start_unix_server(mute, path=str(path))
    try:
        t0 = time.monotonic()
        with pytest.raises(ControlError, match=r"did not answer hello within 0\.3s "
                                               r"\(control\.timeout_s, ctl --timeout\)"):
            await ControlClient.connect(path, timeout_s=0.3)
        assert time.monotonic() - t0 < 2
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "hivetui", "ctl", "--socket", str(path),
                             "approvals", "--timeout", "0.5"],
            capture_output=True, text=True, timeout=30, env=env)
        assert done.returncode == 1
        assert "did not answer hello within 0.5s" in done.stderr
        cfg = tmp_path / "config.toml"
        cfg.write_text("[control]\ntimeout_s = 0.4\n")
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "hivetui", "ctl", "--socket", str(path),
                             "--config", str(cfg), "agents"],
            capture_output=True, text=True, timeout=30, env=env)
        assert done.returncode == 1 and "within 0.4s" in done.stderr, done.stderr
        done = await asyncio.to_thread(  # attach (every SSH session is one) alike
            subprocess.run, [sys.executable, "-m", "hivetui", "attach", "--socket", str(path),
                             "--config", str(cfg)],
            capture_output=True, text=True, timeout=30, env=env)
        assert done.returncode == 1 and "within 0.4s" in done.stderr, done.stderr
        done = await asyncio.to_thread(  # attach takes --timeout too, before or after
            subprocess.run, [sys.executable, "-m", "hivetui", "--timeout", "0.3", "attach",
                             "--socket", str(path)],
            capture_output=True, text=True, timeout=30, env=env)
        assert done.returncode == 1 and "within 0.3s" in done.stderr, done.stderr
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "hivetui", "ctl", "--socket", str(path),
                             "--timeout", "-1", "agents"],
            capture_output=True, text=True, timeout=30, env=env)
        assert done.returncode == 2, done.stderr
        assert "Invalid value for '--timeout': must be more than 0" in done.stderr
    finally:
        server.close()
        await server.wait_closed()


async def test_inbox_on_a_page_damaged_while_running_is_answered(tmp_path: Path) -> None:
    """Damage that appears after the start-up check (a disk going bad under a running core):
    the store's connection is reopened on the damaged file, as a new read would see it."""
    import aiosqlite

    from tests.e2e.test_store_refusals import damage_a_messages_page

    async with Hive(tmp_path / "state", backend=FakeMemoryBackend()) as hive:
        await hive.registry.create("ann", runtime="scripted:echo", model="m")
        for i in range(200):
            await hive.bus.send("operator", "ann", f"message {i} " + "x" * 500)
        server = ControlServer(hive)
        hive.add_service("control", server.run)
        await server.ready()
        await hive.store.aclose()
        damage_a_messages_page(hive.store.path)
        hive.store._db = await aiosqlite.connect(hive.store.path, isolation_level=None)
        async with await ControlClient.connect(server.path, timeout_s=20) as api:
            with pytest.raises(ControlError, match=r"inbox: internal error \(DatabaseError: "
                                                   r"database disk image is malformed\)"):
                await api.inbox("ann", 500)
            assert [a.name for a in await api.agents()] == ["ann"]


async def test_ctl_approve_with_an_id_beyond_64_bits_is_refused(tmp_path: Path) -> None:
    async with Hive(tmp_path / "state", backend=FakeMemoryBackend()) as hive:
        server = ControlServer(hive)
        hive.add_service("control", server.run)
        await server.ready()
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "hivetui", "ctl", "--socket",
                             str(server.path), "--timeout", "20", "approve",
                             "1180591620717411303424"],
            capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 1
        assert done.stderr.strip() == (
            "hivetui ctl: Control API error: approve: approval_id must be an integer from "
            "-9223372036854775808 to 9223372036854775807, got one of 22 digits")


def test_every_argument_of_every_operation_has_a_checked_kind() -> None:
    """An argument with no kind would reach the hive unchecked (any JSON value)."""
    from hivetui.control.protocol import ARG_KINDS, OPS, STREAM_OPS

    unchecked = sorted({(op, n) for op, (names, _) in (OPS | STREAM_OPS).items()
                        for n in names if n not in ARG_KINDS})
    assert unchecked == []
