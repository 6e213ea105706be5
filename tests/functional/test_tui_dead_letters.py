"""The agent screen shows messages set aside after failed turns, and the operator a toast."""

from __future__ import annotations

from hivetui.core.hive import Hive
from hivetui.tui.widgets.agent.info import AgentInfoPanel
from hivetui.tui.widgets.agent.message_log import DEAD, MessageLog
from tests.functional.test_tui_app import hive, make_app, open_agent, rows, until

__all__ = ["hive"]  # the fixture: a hive of four scripted agents


async def _fail_three_turns(hive: Hive, body: str) -> int:
    sent = await hive.bus.send("operator", "alice", body)
    for _ in range(3):
        await hive.bus.recv("alice", 0, 20, ack=0)
        await hive.bus.turn_failed("alice", [sent.id], "API Error: 529 Overloaded")
    return sent.id


async def test_dead_letters_on_the_agent_screen(hive: Hive) -> None:
    app, toasts = make_app(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        screen = await open_agent(pilot, app, "alice")
        await hive.bus.send("operator", "alice", "fine one")
        await pilot.press("2")
        log = screen.query_one(MessageLog)
        await until(lambda: [m.body for m in log.shown()] == ["fine one"])
        dead_id = await _fail_three_turns(hive, "doomed one")

        # marked in the history, with its attempts and the reason, and a filter of its own
        await until(lambda: any(m.id == dead_id and m.dead_at for m in log.shown()))
        [line] = [log._line(m).plain for m in log.shown() if m.id == dead_id]
        assert "set aside after 3 failed turn(s): API Error: 529 Overloaded" in line
        log.set_kind(DEAD)
        assert [m.body for m in log.shown()] == ["doomed one"]
        # the overview counts them; the operator got a toast
        await pilot.press("1")
        info = screen.query_one(AgentInfoPanel)
        await until(lambda: info.view is not None and info.view.dead_letters == 1)
        assert "1 message(s) set aside" in str(info._table(info.view).columns[1]._cells)
        await until(lambda: any(f"#{dead_id} to alice set aside" in t for t, _, _ in toasts))
