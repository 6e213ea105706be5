"""The telemetry charts' x-axis: readable ages back from now, oldest first."""

from __future__ import annotations

import pytest

from hivetui.tui.widgets.agent.telemetry_chart import time_ticks


@pytest.mark.parametrize(("window_s", "labels"), [
    (600, ["10m", "5m", "now"]),
    (3600, ["1h", "45m", "30m", "15m", "now"]),
    (6 * 3600, ["6h", "4h", "2h", "now"]),
    (86400, ["1d", "18h", "12h", "6h", "now"]),
])
def test_labels_read_back_from_now(window_s: float, labels: list[str]) -> None:
    positions, shown = time_ticks(window_s)
    assert shown == labels
    assert positions == sorted(positions) and positions[-1] == 0.0  # in order, now last
    assert positions[0] == -window_s / 60.0  # the left edge is labelled
