"""UI work runs in Textual workers whose failures reach one handler, the app's: a toast
and a logged traceback, and the operator's UI goes on. Over a real hive (real sqlite);
the containers are the recording fake, and the API wrapper below fails one call on
purpose (a broken log stream)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession
from hivetui.tui.app import create_app
from hivetui.tui.screens.fleet import FleetScreen
from hivetui.tui.widgets.agent.log_pane import LogPane
from tests.functional.test_tui_app import hive, open_agent, record_toasts, rows, until

__all__ = ["hive"]  # the fixture: four running agents over the recording fake backend


class BrokenLogs:
    """A real operator session whose log stream breaks after one line."""

    def __init__(self, inner: OperatorSession) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def follow_logs(self, name: str) -> AsyncIterator[str]:
        yield "one line"
        raise RuntimeError("the log stream broke")


async def test_a_failed_worker_is_one_toast_and_the_app_goes_on(
        hive: Hive, caplog: pytest.LogCaptureFixture) -> None:
    api = BrokenLogs(OperatorSession(hive, Operator("local:tester")))
    app = create_app(api, bell=False)  # type: ignore[arg-type]
    toasts = record_toasts(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = await open_agent(pilot, app, "alice")
        with caplog.at_level(logging.ERROR, logger="hivetui.tui.app"):
            await pilot.press("3")  # the logs tab follows the stream
            await until(lambda: len(toasts) == 1)
        assert toasts == [("Unexpected error", "RuntimeError: the log stream broke", "error")]
        assert any(r.exc_info and "the log stream broke" in str(r.exc_info[1])
                   for r in caplog.records)  # logged with its traceback
        logs = screen.query_one(LogPane)
        await until(lambda: not logs.following)  # following stopped, and says so
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen))  # the app goes on
