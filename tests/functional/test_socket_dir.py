"""`--socket D/ctl.sock` never changes the mode of an existing D (issue 15: pointed at /tmp,
the old code left it 0700 and broke /tmp for everyone)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hivetui.control.client import ControlClient
from hivetui.control.server import ControlServer
from hivetui.core.hive import Hive


async def serve_once(hive: Hive, path: Path) -> None:
    server = ControlServer(hive, path)
    hive.add_service("control", server.run)
    await server.ready()
    async with await ControlClient.connect(path) as api:
        assert await api.agents() == []


async def test_an_existing_socket_dir_keeps_its_mode(tmp_path: Path, hive: Hive) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    await serve_once(hive, shared / "ctl.sock")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "ctl.sock").stat().st_mode) == 0o600


async def test_a_missing_socket_dir_is_made_private(tmp_path: Path, hive: Hive) -> None:
    where = tmp_path / "new" / "dir"
    await serve_once(hive, where / "ctl.sock")
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
