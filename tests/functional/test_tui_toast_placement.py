"""On the approvals screen toasts stay clear of the diff under review: they stack over the
queue (its column when wide, its top when narrow). Over a real hive (real sqlite); the
containers are the recording fake."""

from __future__ import annotations

import pytest

from hivetui.core.events import Notification
from hivetui.core.hive import Hive
from hivetui.tui.screens.approvals import ApprovalsScreen
from tests.functional.test_tui_app import hive, make_app, rows, until
from tests.tui_queue_fixtures import ensure_approvals_readable, seed_approvals

__all__ = ["hive"]  # the fixture: four running agents over the recording fake backend


@pytest.mark.parametrize("size", [(170, 40), (100, 30), (80, 24)])
async def test_toasts_do_not_cover_the_diff(hive: Hive, size: tuple[int, int]) -> None:
    await seed_approvals(hive)
    await ensure_approvals_readable(hive)
    app, _ = make_app(hive)
    async with app.run_test(size=size, notifications=True) as pilot:
        await until(lambda: len(rows(app)) == 4)
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, ApprovalsScreen))
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen)
        await until(lambda: len(screen.queue.approvals) == 3)
        hive.hub.publish(Notification(level="error", title="bob crashed",
                                      text="exit status 137: killed"))
        await until(lambda: bool(screen.query("Toast")))
        await pilot.pause(0.1)
        diff = screen.query_one("#approval-diff").region
        for toast in screen.query("Toast"):
            assert toast.region.area > 0
            assert toast.region.intersection(diff).area == 0, (toast.region, diff)
