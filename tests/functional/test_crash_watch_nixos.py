"""crash_watch over the nixos backend, against the fakes of nixos-container, machinectl,
journalctl and systemctl (this machine has no NixOS): poll mode and Restart=on-failure."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hivetui.containers.nixos import NixosBackend
from hivetui.core.config import HiveConfig
from hivetui.core.crash_watch import CrashWatch
from hivetui.core.hive import Hive
from tests.fakes.nixos.fakenix import FakeNixos


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeNixos:
    nix = FakeNixos(tmp_path / "fake-nixos")
    for key, value in nix.env.items():
        monkeypatch.setenv(key, value)
    return nix


async def _crashes(hive: Hive) -> list[dict[str, object]]:
    msgs = await hive.bus.recv("boss", 0, 100)
    return [e for e in (json.loads(m.body) for m in msgs if m.kind == "system")
            if e["event"] == "container_crash"]


async def _first_crashes(hive: Hive, within_s: float = 15.0) -> list[dict[str, object]]:
    """The crash reports once some arrive: polls, since a loaded machine slows the watch."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not (crashes := await _crashes(hive)):
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    return crashes


async def test_poll_sees_crash_even_when_systemd_restarted_it(tmp_path: Path,
                                                              fake: FakeNixos) -> None:
    cfg = HiveConfig()
    cfg.crash_watch.interval_s = 0.5
    backend = NixosBackend(tmp_path / "flakes", hivetui_flake="github:x/hivetui",
                           **fake.backend_kwargs())
    async with Hive(tmp_path / "state", cfg, backend) as hive:
        assert hive.lifecycle is not None
        await hive.lifecycle.spawn("boss", runtime="scripted:manager", model="m",
                                   role="manager")
        await hive.lifecycle.spawn("w1", runtime="scripted:echo", model="m")
        watch = CrashWatch(hive, backend)
        hive.add_service("crash_watch", watch.run)
        await watch.seeded.wait()
        await _crashes(hive)
        # systemd brings it back after 0.1 s: between two polls it looks "running" twice
        fake.crash("h-w1", status=1, restart_after=0.1)
        crashes = await _first_crashes(hive)
        assert [c["agent"] for c in crashes] == ["w1"]
        assert await backend.running() == {"boss", "w1"}
        # an operator restart bumps nothing that looks like a crash
        await hive.lifecycle.restart("w1")
        await asyncio.sleep(1.2)
        assert await _crashes(hive) == []
        # a crash that stays down is seen by the running set
        fake.crash("h-w1", status=2, restart_after=None)
        assert [c["agent"] for c in await _first_crashes(hive)] == ["w1"]
        assert hive.registry.get("w1").state == "crashed"
