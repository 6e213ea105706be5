"""One live telemetry chart (textual-plotext): lines of some series, or bars of totals.

Plotext rebuilds the whole plot on every render, so the owner refreshes it at most once
or twice a second; colours come from the app's theme (no literal colours).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.color import Color
from textual_plotext import PlotextPlot

Series = dict[str, list[tuple[float, float]]]

_THEME_SLOTS = ("primary", "warning", "error", "success", "accent", "secondary")


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

    def show(self, series: Series, now: float) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        self.points = 0
        if self.bars:
            totals = [sum(v for _, v in series.get(key, ())) for key in self.keys]
            self.points = int(sum(totals))
            plt.bar(list(self.labels), totals, color=self._colour(0), width=0.4)
        else:
            for index, (key, label) in enumerate(zip(self.keys, self.labels, strict=True)):
                points = series.get(key, [])
                if not points:
                    continue
                self.points += len(points)
                xs = [(ts - now) / 60.0 for ts, _ in points]
                ys = [value for _, value in points]
                plt.plot(xs, ys, label=label if len(self.keys) > 1 else None,
                         color=self._colour(index), marker="braille")
            plt.xlabel("minutes ago")
        if not self.points:
            plt.title(f"{self.title} — no samples yet")
        self.refresh()
