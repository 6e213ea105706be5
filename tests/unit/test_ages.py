"""One age formatter: the fleet, the queues, the charts and ``ctl`` say the same age."""

from __future__ import annotations

import time

import pytest

from hivetui import ctl
from hivetui.core.ages import format_age, format_seconds
from hivetui.tui.widgets.agent_state import ago

NOW = 1_000_000.0


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0s"), (59.9, "59s"), (60, "1m"), (119, "1m"), (120, "2m"), (3599, "59m"),
    (3600, "1h"), (7199, "1h"), (86399, "23h"), (86400, "1d"), (10 * 86400, "10d"),
    (-5, "0s"),  # a clock a little ahead of the core's: never a negative age
])
def test_largest_whole_unit(seconds: float, shown: str) -> None:
    assert format_seconds(seconds) == shown
    assert format_age(NOW - seconds, NOW) == shown


def test_every_view_agrees() -> None:
    then = time.time() - 119
    assert ago(then, time.time()) == "1m"  # fleet and agent info
    assert ctl._age(then) == "1m"  # `ctl agents`, `ctl approvals` (said 119s)
    assert ago(None, NOW) == "—" and ctl._age(None) == "-"  # never
