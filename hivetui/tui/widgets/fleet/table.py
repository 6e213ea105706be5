"""The fleet table: one row per agent, updated cell by cell as the hive changes.

Rows are keyed by agent name. :meth:`FleetTable.sync` takes the current views and the
names that changed; only those rows are rebuilt, and only changed cells are written.
Colours come from the component classes below, styled in ``styles/fleet.tcss``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.color import Color as RichColor
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.renderables.sparkline import Sparkline
from textual.widgets import DataTable

from hivetui.core.views import AgentView
from hivetui.tui.widgets.agent_state import ago, attention_rank, badge, marker, model_chip

SPARK_WIDTH = 10

#: column key, label, width (None: the rest)
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("mark", "", 7),
    ("name", "NAME", 9),
    ("state", "STATE", 12),
    ("role", "ROLE", 7),
    ("model", "MODEL", 14),
    ("inbox", "INBOX", 5),
    ("spark", "TURNS/MIN", SPARK_WIDTH),
    ("last", "LAST", 5),
    ("detail", "DETAIL", 24),
)

SORTS: dict[str, Callable[[AgentView], Any]] = {
    "attention": lambda v: (attention_rank(v), v.role != "manager", v.name),
    "name": lambda v: v.name,
    "inbox": lambda v: (-v.inbox_depth, v.name),
    "last turn": lambda v: (-(v.last_turn_at or 0.0), v.name),
    "model": lambda v: (v.effective_model, v.name),
    "role": lambda v: (v.role != "manager", v.name),
}
_SORT_COLUMN = {"attention": "state", "name": "name", "inbox": "inbox",
                "last turn": "last", "model": "model", "role": "role"}


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def matches(view: AgentView, needle: str) -> bool:
    """The `/` filter: every word must appear in name, role, model, state or detail."""
    if not needle:
        return True
    hay = " ".join((view.name, view.role, view.effective_model, view.runtime, view.state,
                    view.status, badge(view).word, view.status_detail)).lower()
    return all(word in hay for word in needle.lower().split())


class FleetTable(DataTable[Any]):
    """Every agent; ``enter`` (or a click) posts :class:`FleetTable.AgentChosen`."""

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "fleet--ok", "fleet--busy", "fleet--attention", "fleet--error", "fleet--muted",
        "fleet--mark-attention", "fleet--mark-error", "fleet--model", "fleet--manager",
        "fleet--spark-min", "fleet--spark-max", "fleet--inbox-high",
    }

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    class AgentChosen(Message):
        """The operator picked an agent (enter or click)."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class Scrolled(Message):
        """Other rows came into view (their sparklines may be stale)."""

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.clock = clock
        self.views: Mapping[str, AgentView] = {}
        self.sparks: dict[str, Sequence[float]] = {}
        self.filter_text = ""
        self.sort_name = "attention"
        self._shown: dict[str, tuple[Any, ...]] = {}  # the cells as last written
        self._styles: dict[str, Style] = {}
        self.detail_width = 24
        self._cursor_name: str | None = None

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        self._label_sort()

    def on_resize(self) -> None:
        """DETAIL takes what the fixed columns leave (no sideways scrolling when it fits)."""
        fixed = sum((width or 0) + 2 * self.cell_padding for key, _, width in COLUMNS
                    if key != "detail")
        width = max(12, self.size.width - fixed - 2 * self.cell_padding - 2)
        if width != self.detail_width:
            self.detail_width = width
            column = self.columns.get("detail")  # type: ignore[call-overload]
            if column is not None:
                column.width = width
                column.auto_width = False
            self._shown = {name: () for name in self._shown}
            self.sync(self.views)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        if self._shown:
            self._shown = {name: () for name in self._shown}
            self.sync(self.views)

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    # --- cells --------------------------------------------------------------------
    def cells(self, view: AgentView) -> tuple[Any, ...]:
        now = self.clock()
        b = badge(view)
        mark = marker(view)
        mark_cell = (Text(f"{mark.glyph} {mark.word}".ljust(7),
                          self._style(f"fleet--mark-{mark.tone}")) if mark else Text(""))
        name = Text(view.name, self._style("fleet--manager") if view.role == "manager" else "")
        model = Text(model_chip(view.effective_model)
                     + ("*" if view.model_override else ""), self._style("fleet--model"))
        inbox = Text(str(view.inbox_depth), justify="right",
                     style=self._style("fleet--inbox-high") if view.inbox_depth >= 10 else "")
        spark_data = self.sparks.get(view.name, ())
        spark = Sparkline(list(spark_data), width=SPARK_WIDTH,
                          min_color=self._style("fleet--spark-min").color or RichColor.default(),
                          max_color=self._style("fleet--spark-max").color or RichColor.default())
        return (
            mark_cell,
            name,
            Text(b.text, self._style(f"fleet--{b.tone}")),
            view.role,
            model,
            inbox,
            (tuple(spark_data), spark),
            Text(ago(view.last_turn_at, now), justify="right"),
            Text(_clip(view.status_detail.replace("\n", " "), self.detail_width),
                 self._style("fleet--muted")),
        )

    # --- sync ---------------------------------------------------------------------
    def sync(self, views: Mapping[str, AgentView], names: Iterable[str] | None = None) -> None:
        """Show ``views``; rebuild only the rows of ``names`` (all when None)."""
        self.views = views
        todo = set(views) | set(self._shown) if names is None else set(names)
        resort = False
        sort_column = _SORT_COLUMN[self.sort_name]
        for name in todo:
            view = views.get(name)
            wanted = view is not None and matches(view, self.filter_text)
            shown = name in self._shown
            if not wanted:
                if shown:
                    self.remove_row(name)
                    del self._shown[name]
                continue
            assert view is not None
            cells = self.cells(view)
            if not shown:
                self.add_row(*[self._display(c) for c in cells], key=name)
                self._shown[name] = cells
                resort = True
                continue
            old = self._shown[name]
            if old == cells:
                continue
            for index, (key, _, _) in enumerate(COLUMNS):
                if not old or old[index] != cells[index]:
                    self.update_cell(name, key, self._display(cells[index]))
                    resort = resort or key == sort_column
            self._shown[name] = cells
        if resort:
            self.resort()

    @staticmethod
    def _display(cell: Any) -> Any:
        # the spark cell compares by its data, shows the renderable
        return cell[1] if isinstance(cell, tuple) else cell

    def refresh_times(self) -> None:
        """Re-write the LAST column where the elapsed time changed its wording."""
        now = self.clock()
        index = [key for key, _, _ in COLUMNS].index("last")
        for name, shown in self._shown.items():
            view = self.views.get(name)
            if view is None or not shown:
                continue
            text = ago(view.last_turn_at, now)
            if shown[index].plain != text:
                cell = Text(text, justify="right")
                self.update_cell(name, "last", cell)
                self._shown[name] = (*shown[:index], cell, *shown[index + 1:])

    def set_spark(self, name: str, values: Sequence[float]) -> None:
        self.sparks[name] = values
        if name in self._shown:
            self.sync(self.views, [name])

    # --- sort and filter ------------------------------------------------------------
    def resort(self) -> None:
        """Sort by the current key; the cursor stays on the agent it was on."""
        chosen = self._cursor_name
        key = SORTS[self.sort_name]
        views = self.views
        self.sort("name", key=lambda name_cell: key(views[name_cell.plain]))
        if chosen is not None and chosen in self._shown:
            self.move_cursor(row=self.get_row_index(chosen), animate=False)
        else:
            self.move_cursor(row=0, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._cursor_name = event.row_key.value

    def cycle_sort(self) -> str:
        names = list(SORTS)
        self.sort_name = names[(names.index(self.sort_name) + 1) % len(names)]
        self._label_sort()
        self.resort()
        return self.sort_name

    def _label_sort(self) -> None:
        active = _SORT_COLUMN[self.sort_name]
        for key, label, _ in COLUMNS:
            column = self.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                column.label = Text(f"{label}▾" if key == active else label)
        self.refresh()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.sync(self.views)

    @property
    def chosen_name(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def visible_names(self) -> list[str]:
        """Agents whose rows are on screen now (cheap: by row index)."""
        top = int(self.scroll_y)
        height = max(1, self.size.height)
        out = []
        for index in range(top, min(self.row_count, top + height)):
            row_key, _ = self.coordinate_to_cell_key(Coordinate(index, 0))
            if row_key.value is not None:
                out.append(row_key.value)
        return out

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self.post_message(self.Scrolled())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.AgentChosen(event.row_key.value))
