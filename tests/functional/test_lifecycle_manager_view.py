"""The manager's read-only view of other agents' state follows the hive: a start or restart
rebuilds its container when agents came or went since it was built (real sqlite and git,
the recording fake backend)."""

from __future__ import annotations

from pathlib import Path

from hivetui.core.ports import Bind
from tests.functional.test_approvals_fakes import open_hive


def _state_views(binds: tuple[Bind, ...]) -> set[str]:
    return {b.container for b in binds if b.container.endswith("/state") and not b.writable}


async def test_restart_brings_agents_spawned_since_into_the_managers_view(tmp_path: Path
                                                                        ) -> None:
    hive, backend = await open_hive(tmp_path / "state")  # boss, the manager, is running
    try:
        assert hive.lifecycle is not None
        await hive.lifecycle.spawn("walt", runtime="scripted:echo", model="m")
        assert _state_views(backend.specs["boss"].extra_binds) == set()
        # nothing changed for walt (not a manager): a restart is a restart
        await hive.lifecycle.restart("walt")
        assert backend.count("rebuild", "walt") == 0
        # the manager's restart rebuilds it with walt's state read-only in its view
        await hive.lifecycle.restart("boss")
        assert backend.count("rebuild", "boss") == 1
        assert _state_views(backend.specs["boss"].extra_binds) == {"/agents/walt/state"}
        assert "boss" in await backend.running()
        # unchanged view: the next restart does not rebuild again
        await hive.lifecycle.restart("boss")
        assert backend.count("rebuild", "boss") == 1
        # stopped, another agent spawned, started: rebuilt before it starts
        await hive.lifecycle.stop("boss")
        await hive.lifecycle.spawn("ann", runtime="scripted:echo", model="m")
        await hive.lifecycle.start("boss")
        assert backend.count("rebuild", "boss") == 2
        assert _state_views(backend.specs["boss"].extra_binds) == {
            "/agents/walt/state", "/agents/ann/state"}
        rebuild_at = backend.calls.index(("rebuild", "boss"), backend.calls.index(
            ("rebuild", "boss")) + 1)
        assert backend.calls[rebuild_at + 1] == ("start", "boss")
    finally:
        await hive.aclose()
