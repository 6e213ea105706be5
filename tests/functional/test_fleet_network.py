"""The fleet flags an agent on the host's network (settings.toml ``network = "host"``): a
``⚠ HOST`` mark when no attention mark takes the column, and the DETAIL always says so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hivetui.tui.widgets.fleet.table import FleetTable
from tests.tui_fixtures import fixture_app, settle


async def test_the_fleet_flags_an_agent_on_the_hosts_network(tmp_path: Path) -> None:
    app = fixture_app(tmp_path / "state")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app)
        fleet = app.screen.query_one(FleetTable)
        base = replace(next(iter(app.hive_context.state.agents.values())), state="running",
                       status="idle", crash_looping=False, status_detail="working")
        private, host = fleet.cells(base), fleet.cells(replace(base, network="host"))
        assert private[0] == ("", "") and private[-1][0] == "working"
        assert host[0] == ("⚠ HOST", "fleet--mark-error")
        assert host[-1][0] == "host network · working"
        waiting = fleet.cells(replace(base, network="host", status="waiting_operator"))
        assert waiting[0][0] == "⚑ YOU" and waiting[-1][0] == "host network · working"
        await pilot.pause()
