"""One live telemetry chart (textual-plotext): lines of some series, or bars of totals.

A line chart spans the whole window, whatever samples it has: its x-axis reads back from
"now" in the ages every view uses ("1h", "45m", …, "now"), oldest on the left, and its
y-axis starts at zero (every series is a count, a rate or a duration: none goes below).
Plotext rebuilds the whole plot on every render, so the owner refreshes it at most once
or twice a second; colours come from the app's theme (no literal colours).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.color import Color
from textual_plotext import PlotextPlot

from hivetui.core.ages import format_seconds

Series = dict[str, list[tuple[float, float]]]

_THEME_SLOTS = ("primary", "warning", "error", "success", "accent", "secondary")
#: steps between x labels, in seconds; a window gets the finest that leaves at most
#: ``_MAX_INTERVALS`` between its labels (so they never crowd a 40-column chart)
_TICK_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600,
                 86400)
_MAX_INTERVALS = 4


def time_ticks(window_s: float) -> tuple[list[float], list[str]]:
    """x positions (minutes before now, negative) and their labels, oldest first."""
    step = next((s for s in _TICK_STEPS_S if window_s / s <= _MAX_INTERVALS),
                _TICK_STEPS_S[-1])
    back = [float(k * step) for k in range(int(window_s // step), -1, -1)]
    return [-b / 60.0 for b in back], [format_seconds(b) if b else "now" for b in back]


class TelemetryChart(PlotextPlot):
    """``keys`` with display ``labels``; ``bars=True`` plots each key's total as a bar."""

    def __init__(self, title: str, keys: Sequence[str], labels: Sequence[str] | None = None,
                 *, bars: bool = False, id: str | None = None) -> None:
        super().__init__(id=id, classes="telemetry-chart")
        self.title = title
        self.keys = tuple(keys)
        self.labels = tuple(labels or keys)
        self.bars = bars
        self.points = 0

    def _colour(self, index: int) -> tuple[int, int, int]:
        variables = self.app.theme_variables
        slot = _THEME_SLOTS[index % len(_THEME_SLOTS)]
        colour = Color.parse(variables.get(slot, variables.get("foreground", "white")))
        return (colour.r, colour.g, colour.b)

    def show(self, series: Series, now: float, window_s: float) -> None:
        """The samples of the last ``window_s`` seconds before ``now``."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        self.points = 0
        if self.bars:
            totals = [sum(v for _, v in series.get(key, ())) for key in self.keys]
            self.points = int(sum(totals))
            plt.bar(list(self.labels), totals, color=self._colour(0), width=0.4)
            plt.ylim(0.0, max(totals) * 1.05 if max(totals, default=0) > 0 else 1.0)
        else:
            self._lines(series, now, window_s)
        if not self.points:
            plt.title(f"{self.title} — no samples yet")
        self.refresh()

    def _lines(self, series: Series, now: float, window_s: float) -> None:
        plt = self.plt
        top = 0.0
        for index, (key, label) in enumerate(zip(self.keys, self.labels, strict=True)):
            points = [(ts, v) for ts, v in series.get(key, []) if now - window_s <= ts <= now]
            if not points:
                continue
            self.points += len(points)
            top = max(top, *(value for _, value in points))
            plt.plot([(ts - now) / 60.0 for ts, _ in points], [v for _, v in points],
                     label=label if len(self.keys) > 1 else None,
                     color=self._colour(index), marker="braille")
        plt.xlim(-window_s / 60.0, 0.0)
        plt.xticks(*time_ticks(window_s))
        plt.ylim(0.0, top * 1.05 if top > 0 else 1.0)
