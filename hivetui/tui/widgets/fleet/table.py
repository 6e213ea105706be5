"""The fleet table: one row per agent, drawn through Textual's line API.

Built for hundreds of agents and a busy event stream: each row's strip is cached and
rebuilt only when that agent's cells change (``DataTable`` re-renders every visible
cell on any update). :meth:`FleetTable.sync` takes the current views and the names that
changed. Colours come from the component classes, styled in ``styles/fleet.tcss``;
every state is a glyph and a word as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.renderables.sparkline import Sparkline
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hivetui.core.views import AgentView
from hivetui.core.visible import visible_line
from hivetui.tui.widgets.agent_state import (
    ago,
    attention_rank,
    badge,
    marker,
    model_chip,
    network_marker,
)

SPARK_WIDTH = 9
MODEL_WIDTH = 11

#: column key, label, width; DETAIL takes what is left (the rest fits 80 columns)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("mark", "", 7),
    ("name", "NAME", 9),
    ("state", "STATE", 10),
    ("role", "ROLE", 7),
    ("model", "MODEL", MODEL_WIDTH),
    ("inbox", "INBOX", 5),
    ("spark", "TURNS/MIN", SPARK_WIDTH),
    ("last", "LAST", 4),
    ("detail", "DETAIL", 24),
)
_INDEX = {key: i for i, (key, _, _) in enumerate(COLUMNS)}
_RIGHT = {"inbox", "last"}

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

Cell = tuple[str, str]  # text, component class ("" for none)
Row = tuple[Cell | tuple[float, ...], ...]  # the spark cell is its data


def matches(view: AgentView, needle: str) -> bool:
    """The `/` filter: every word must appear in name, role, model, state or detail."""
    if not needle:
        return True
    hay = " ".join((view.name, view.role, view.effective_model, view.runtime, view.state,
                    view.status, badge(view).word, view.status_detail)).lower()
    return all(word in hay for word in needle.lower().split())


def _fit(text: str, width: int, right: bool = False) -> str:
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


class FleetTable(ScrollView, can_focus=True):
    """Every agent; ``enter`` (or a click on the chosen row) posts ``AgentChosen``."""

    COMPONENT_CLASSES = {
        "fleet--header", "fleet--cursor", "fleet--zebra",
        "fleet--ok", "fleet--busy", "fleet--attention", "fleet--error", "fleet--muted",
        "fleet--mark-attention", "fleet--mark-error", "fleet--model", "fleet--manager",
        "fleet--spark-min", "fleet--spark-max", "fleet--inbox-high", "fleet--action",
    }
    DEFAULT_CSS = """
    FleetTable > .fleet--header { background: $panel; color: $text-muted; text-style: bold; }
    FleetTable > .fleet--zebra { background: $surface-lighten-1; }
    FleetTable > .fleet--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    FleetTable:blur > .fleet--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: bold;
    }
    FleetTable > .fleet--ok { color: $text-success; }
    FleetTable > .fleet--busy { color: $text-primary; }
    FleetTable > .fleet--attention { color: $text-warning; text-style: bold; }
    FleetTable > .fleet--error { color: $text-error; text-style: bold; }
    FleetTable > .fleet--muted { color: $text-muted; }
    FleetTable > .fleet--action { color: $text-secondary; }
    FleetTable > .fleet--mark-attention {
        background: $warning;
        color: $background;
        text-style: bold;
    }
    FleetTable > .fleet--mark-error { background: $error; color: $background; text-style: bold; }
    FleetTable > .fleet--model { color: $text-accent; }
    FleetTable > .fleet--manager { text-style: bold; color: $text-primary; }
    FleetTable > .fleet--spark-min { color: $primary-muted; }
    FleetTable > .fleet--spark-max { color: $primary; }
    FleetTable > .fleet--inbox-high { color: $text-warning; text-style: bold; }
    """

    BINDINGS = [
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home,g", "top", "Top", show=False),
        Binding("end,G", "bottom", "Bottom", show=False),
        Binding("enter", "choose", "Open", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=False, repaint=False)

    class AgentChosen(Message):
        """The operator picked an agent (enter, or a click on the chosen row)."""

        def __init__(self, table: FleetTable, name: str) -> None:
            super().__init__()
            self.table = table
            self.name = name

        @property
        def control(self) -> FleetTable:
            return self.table

    class Scrolled(Message):
        """Other rows came into view (their sparklines may be stale)."""

        def __init__(self, table: FleetTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> FleetTable:
            return self.table

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.views: Mapping[str, AgentView] = {}
        self.sparks: dict[str, Sequence[float]] = {}
        self.filter_text = ""
        self.sort_name = "attention"
        self.order: list[str] = []  # names shown, in display order
        self._index: dict[str, int] = {}  # name -> position in order
        self._keys: dict[str, Any] = {}  # name -> sort key as last computed
        self._rows: dict[str, Row] = {}  # cells as last computed, by name
        self._strips: dict[tuple[str, str], Strip] = {}  # (name, even|odd|cursor)
        self._styles: dict[str, Style] = {}
        self._header: Strip | None = None
        self._repaint_style: Style | None = None  # the widget's style during render_lines
        self.detail_width = COLUMNS[-1][2]
        self.row_builds = 0  # rows rendered to strips (for tests and the benchmark)

    # --- shape -------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.order)

    def _widths(self) -> list[int]:
        return [self.detail_width if key == "detail" else width for key, _, width in COLUMNS]

    def _total_width(self) -> int:
        return sum(w + 2 for w in self._widths())

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self._total_width(), len(self.order) + 1)

    def on_resize(self, event: events.Resize) -> None:
        fixed = sum(width + 2 for key, _, width in COLUMNS if key != "detail")
        width = max(6, event.size.width - fixed - 2 - 1)
        if width != self.detail_width:
            self.detail_width = width
            self._invalidate()
        self._resize_virtual()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._invalidate()

    def _invalidate(self) -> None:
        self._strips.clear()
        self._header = None
        self._rows = {name: () for name in self._rows}
        if self.views:
            self.sync(self.views)
        self.refresh()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = (self.get_component_rich_style(name, partial=True)
                                          if name else Style())
        return style

    # --- cells ---------------------------------------------------------------------
    def cells(self, view: AgentView) -> Row:
        b = badge(view)
        mark = marker(view) or network_marker(view)
        override = "*" if view.model_override else ""
        detail = self.detail_text(view, self.clock())
        if view.network == "host":  # shown even when another marker takes the column
            detail = "host network · " + detail
        return (
            (f"{mark.glyph} {mark.word}", f"fleet--mark-{mark.tone}") if mark else ("", ""),
            (view.name, "fleet--manager" if view.role == "manager" else ""),
            (b.text, f"fleet--{b.tone}"),
            (view.role, ""),
            (model_chip(visible_line(view.effective_model), MODEL_WIDTH - len(override))
             + override,
             "fleet--model"),
            (str(view.inbox_depth), "fleet--inbox-high" if view.inbox_depth >= 10 else ""),
            tuple(self.sparks.get(view.name, ())),
            (ago(view.last_turn_at, self.clock()), ""),
            (detail, "fleet--action" if view.action else "fleet--muted"),
        )

    @staticmethod
    def detail_text(view: AgentView, now: float) -> str:
        """In a turn, for how long and what the agent does now (the time first: a narrow
        column still shows it); else its status detail."""
        if view.action:
            return visible_line(f"{ago(view.action_since, now)} · {view.action}")
        return visible_line(view.status_detail.replace("\n", " "))

    def get_cell(self, name: str, key: str) -> str:
        """The text shown in ``name``'s row, column ``key`` (tests, screenshots)."""
        cell = self._rows[name][_INDEX[key]]
        return str(cell[0]) if key != "spark" else ""

    def _spark_segments(self, data: tuple[float, ...]) -> list[Segment]:
        spark = Sparkline(list(data), width=SPARK_WIDTH,
                          min_color=self._style("fleet--spark-min").color or RichColor.default(),
                          max_color=self._style("fleet--spark-max").color or RichColor.default())
        console = self.app.console
        options = console.options.update_width(SPARK_WIDTH)
        return [s for s in console.render(spark, options) if s.text != "\n"]

    def _content(self, name: str) -> list[Segment]:
        """The row's segments with cell styles only (background comes later)."""
        self.row_builds += 1
        segments: list[Segment] = []
        for (key, _, _), width, cell in zip(COLUMNS, self._widths(), self._rows[name],
                                            strict=True):
            segments.append(Segment(" "))
            if key == "spark":
                assert not cell or isinstance(cell[0], float | int)
                segments.extend(self._spark_segments(cell))
            else:
                text, style = cell
                segments.append(Segment(_fit(str(text), width, key in _RIGHT),
                                        self._style(str(style))))
            segments.append(Segment(" "))
        return segments

    def _strip(self, name: str, variant: str) -> Strip:
        strip = self._strips.get((name, variant))
        if strip is None:
            content = self._strips.get((name, "raw"))
            if content is None:
                content = self._strips[(name, "raw")] = Strip(self._content(name))
            base = self.rich_style
            if variant == "cursor":
                cursor = self._style("fleet--cursor")
                segments = Segment.apply_style(content, base, cursor)
            else:
                style = base + self._style("fleet--zebra") if variant == "odd" else base
                segments = Segment.apply_style(content, style)
            strip = self._strips[(name, variant)] = Strip(segments, content.cell_length)
        return strip

    def _header_strip(self) -> Strip:
        if self._header is None:
            active = _SORT_COLUMN[self.sort_name]
            segments = []
            for (key, label, _), width in zip(COLUMNS, self._widths(), strict=True):
                text = f"{label}▾" if key == active else label
                segments.append(Segment(f" {_fit(text, width)} "))
            style = self.rich_style + self._style("fleet--header")
            self._header = Strip(Segment.apply_style(segments, style))
        return self._header

    def render_lines(self, crop: Region) -> list[Strip]:
        # the widget's style once per repaint, not twice per line (it walks the ancestors)
        self._repaint_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._repaint_style = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self._repaint_style or self.rich_style
        if y == 0:
            strip = self._header_strip()
        else:
            index = scroll_y + y - 1
            if index >= len(self.order):
                return Strip.blank(width, base)
            variant = "cursor" if index == self.cursor_row else ("odd" if index % 2 else "even")
            strip = self._strip(self.order[index], variant)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    # --- sync ------------------------------------------------------------------------
    def sync(self, views: Mapping[str, AgentView], names: Iterable[str] | None = None) -> None:
        """Show ``views``; recompute only the rows of ``names`` (all when None).

        Only rows whose cells changed are redrawn; the order is recomputed only when a
        row came, went, or its sort key changed.
        """
        self.views = views
        todo = set(views) | set(self._rows) if names is None else set(names)
        reorder = False
        redraw: list[str] = []
        key = SORTS[self.sort_name]
        for name in todo:
            view = views.get(name)
            wanted = view is not None and matches(view, self.filter_text)
            old = self._rows.get(name)
            if not wanted:
                if old is not None:
                    del self._rows[name]
                    self._keys.pop(name, None)
                    self._drop(name)
                    reorder = True
                continue
            assert view is not None
            row = self.cells(view)
            sort_key = key(view)
            if self._keys.get(name) != sort_key:
                self._keys[name] = sort_key
                reorder = True
            if old == row:
                continue
            self._rows[name] = row
            self._drop(name)
            redraw.append(name)
        if reorder:
            self._reorder()
            self.refresh()
        else:
            self._refresh_rows(redraw)

    def _refresh_rows(self, names: Iterable[str]) -> None:
        index = self._index
        for name in names:
            row = index.get(name)
            if row is not None:
                self.refresh_line(row + 1)

    def _drop(self, name: str) -> None:
        for variant in ("raw", "even", "odd", "cursor"):
            self._strips.pop((name, variant), None)

    def _reorder(self) -> None:
        chosen = self.chosen_name
        keys = self._keys
        self.order = sorted(self._rows, key=keys.__getitem__)
        self._index = {name: i for i, name in enumerate(self.order)}
        self._resize_virtual()
        if chosen in self._rows:
            self.cursor_row = self.order.index(chosen)
        else:
            self.cursor_row = min(self.cursor_row, max(0, len(self.order) - 1))

    def refresh_times(self) -> None:
        """Re-write the LAST column, and DETAIL's time in an action, where the elapsed time
        changed its wording."""
        now = self.clock()
        last, detail = _INDEX["last"], _INDEX["detail"]
        changed: list[str] = []
        for name, row in self._rows.items():
            view = self.views.get(name)
            if view is None or not row:
                continue
            text = ago(view.last_turn_at, now)
            shown = (str(row[detail][0]), str(row[detail][1]))
            action = self.detail_text(view, now) if view.action else shown[0]
            if row[last][0] != text or shown[0] != action:
                new = list(row)
                new[last] = (text, "")
                new[detail] = (action, shown[1])
                self._rows[name] = tuple(new)
                self._drop(name)
                changed.append(name)
        self._refresh_rows(changed)

    def set_spark(self, name: str, values: Sequence[float]) -> None:
        self.sparks[name] = values
        if name in self._rows:
            self.sync(self.views, [name])

    # --- sort and filter -------------------------------------------------------------
    def cycle_sort(self) -> str:
        names = list(SORTS)
        self.sort_name = names[(names.index(self.sort_name) + 1) % len(names)]
        self._header = None
        key = SORTS[self.sort_name]
        self._keys = {name: key(self.views[name]) for name in self._rows}
        self._reorder()
        self.refresh()
        return self.sort_name

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.sync(self.views)

    @property
    def chosen_name(self) -> str | None:
        if not self.order:
            return None
        return self.order[min(self.cursor_row, len(self.order) - 1)]

    def visible_names(self) -> list[str]:
        top = int(self.scroll_y)
        return self.order[top: top + max(1, self.size.height - 1)]

    # --- cursor, keys, mouse -----------------------------------------------------------
    def validate_cursor_row(self, row: int) -> int:
        return max(0, min(row, len(self.order) - 1)) if self.order else 0

    def watch_cursor_row(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        height = max(1, self.size.height - 1)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self.post_message(self.Scrolled(self))

    def action_cursor(self, step: int) -> None:
        self.cursor_row += step

    def action_page(self, step: int) -> None:
        self.cursor_row += step * max(1, self.size.height - 2)

    def action_top(self) -> None:
        self.cursor_row = 0

    def action_bottom(self) -> None:
        self.cursor_row = len(self.order) - 1

    def action_choose(self) -> None:
        name = self.chosen_name
        if name is not None:
            self.post_message(self.AgentChosen(self, name))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self.cycle_sort()
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.order):
            if index == self.cursor_row or event.chain > 1:
                self.cursor_row = index
                self.action_choose()
            else:
                self.cursor_row = index
