"""A core starting with agents already there serves each agent's network (its egress proxy
socket, the shared sockets linked into its run dir); one agent whose applied settings cannot
be read is logged and does not keep the others' network down."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from hivetui.core.forwards import agent_socket, host_socket
from hivetui.core.hive import Hive
from hivetui.core.repos import default_files
from hivetui.core.settings import AgentSettings
from tests.fakes.memory_backend import FakeMemoryBackend


async def test_every_agents_network_is_served_and_a_bad_one_is_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with Hive(tmp_path, backend=FakeMemoryBackend()) as hive:
        lifecycle = hive.lifecycle
        assert lifecycle is not None
        for name in ("w1", "w2"):
            await lifecycle.spawn(name, runtime="scripted:echo", model="m", start=False)
        bad = default_files("w1", AgentSettings()) | {"settings.toml": "network = 3\n"}
        sha = await lifecycle.repos.build_commit("w1", bad, "unreadable settings")
        await lifecycle.repos.move_applied("w1", sha, await lifecycle.repos.applied("w1"))
    for name in ("w1", "w2"):
        agent_socket(hive.paths, name, "proxy").unlink()
    host_socket(hive.paths, "bridge").write_text("")  # the bridge's socket, as linked
    async with Hive(tmp_path, backend=FakeMemoryBackend()) as again:
        assert again.lifecycle is not None
        caplog.set_level(logging.ERROR, "hivetui.core.lifecycle")
        await again.lifecycle.serve_networks()
        proxy = agent_socket(again.paths, "w2", "proxy")
        assert stat.S_ISSOCK(os.stat(proxy).st_mode)
        linked = agent_socket(again.paths, "w2", "bridge")
        assert os.path.samestat(os.stat(linked), os.stat(host_socket(again.paths, "bridge")))
        assert not agent_socket(again.paths, "w1", "proxy").exists()
        assert any(r.getMessage().startswith("w1: its network is not served")
                   and 'settings key network must be "host"' in r.getMessage()
                   for r in caplog.records), caplog.records
