"""The overview's grid of telemetry charts for one agent."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid

from hivetui.tui.widgets.agent.telemetry_chart import Series, TelemetryChart

#: every key the charts read, for one ``api.stats`` call
CHART_KEYS = ["turns_per_min", "turn_duration_p50_s", "turn_duration_p95_s", "tool_calls",
              "outcome_ok", "outcome_compact_retry", "outcome_failure", "inbox_depth"]


class TelemetryCharts(Grid):
    def compose(self) -> ComposeResult:
        yield TelemetryChart("turns / min", ["turns_per_min"], id="chart-turns")
        yield TelemetryChart("turn duration (s)", ["turn_duration_p50_s", "turn_duration_p95_s"],
                             ["p50", "p95"], id="chart-duration")
        yield TelemetryChart("tool calls per turn", ["tool_calls"], id="chart-tools")
        yield TelemetryChart("turn outcomes", ["outcome_ok", "outcome_compact_retry",
                                               "outcome_failure"],
                             ["ok", "compact", "failure"], bars=True, id="chart-outcomes")
        yield TelemetryChart("inbox depth", ["inbox_depth"], id="chart-inbox")

    def show(self, series: Series, now: float, window_s: float) -> None:
        for chart in self.query(TelemetryChart):
            chart.show(series, now, window_s)
