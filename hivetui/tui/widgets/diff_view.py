"""A scrollable, focusable view of a unified git diff: unified or side by side.

Line API (only visible lines are rendered, so a whole-draft diff of thousands of lines
costs nothing until scrolled to). Colours come from component classes styled in the
screen's stylesheet with theme variables: ``diff-view--add``, ``--del``, ``--hunk``,
``--file``, ``--meta``, ``--ctx``, ``--gutter``, ``--divider``, ``--blank``.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hivetui.core.visible import visible_line
from hivetui.core.words import counted
from hivetui.tui.widgets.diff_side_by_side import (
    DiffLine,
    SplitRow,
    parse_unified,
    side_by_side,
    stats,
)

_NUM = 4  # digits of a line number column


class DiffView(ScrollView, can_focus=True):
    """Shows a diff; ``split`` switches between unified and side by side."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "diff-view--add", "diff-view--del", "diff-view--hunk", "diff-view--file",
        "diff-view--meta", "diff-view--ctx", "diff-view--gutter", "diff-view--divider",
        "diff-view--blank",
    }
    DEFAULT_CSS = """
    /* the diff: colour plus a marker column (+/-), never colour alone */
    DiffView > .diff-view--add {
        color: $text-success;
        background: $success-muted;
    }

    DiffView > .diff-view--del {
        color: $text-error;
        background: $error-muted;
    }

    DiffView > .diff-view--ctx {
        color: $foreground;
    }

    DiffView > .diff-view--hunk {
        color: $text-accent;
        background: $accent-muted;
    }

    DiffView > .diff-view--file {
        color: $text-primary;
        text-style: bold;
    }

    DiffView > .diff-view--meta {
        color: $foreground-muted;
        text-style: italic;
    }

    DiffView > .diff-view--gutter {
        color: $foreground-muted;
    }

    DiffView > .diff-view--divider {
        color: $primary-muted;
    }

    DiffView > .diff-view--blank {
        background: $boost;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # own actions: the inherited ones skip to the screen's j/k when nothing scrolls,
        # and in an open diff j/k must never move the queue behind it
        Binding("j", "line(1)", "Scroll down", show=False),
        Binding("k", "line(-1)", "Scroll up", show=False),
        Binding("h", "column(-4)", "Scroll left", show=False),
        Binding("l", "column(4)", "Scroll right", show=False),
        Binding("space", "page_down", "Page down", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    split: reactive[bool] = reactive(False)

    class ModeChanged(Message):
        """The view switched between unified and side by side."""

        def __init__(self, view: DiffView, split: bool) -> None:
            super().__init__()
            self.view = view
            self.split = split

        @property
        def control(self) -> DiffView:
            return self.view

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[DiffLine] = []
        self._rows: list[SplitRow] = []
        self._text_width = 0

    # --- content -------------------------------------------------------------------
    def set_diff(self, diff: str, *, empty: str = "(no changes)") -> None:
        """Show ``diff`` (unified git diff text); ``empty`` is shown when it has no lines."""
        self._lines = (parse_unified(diff) if diff.strip()
                       else [DiffLine("meta", visible_line(empty))])
        self._rows = side_by_side(self._lines)
        self._text_width = max((cell_len(line.text) + 1 for line in self._lines), default=0)
        self.scroll_to(0, 0, animate=False)
        self._update_virtual_size()
        self.refresh()

    @property
    def lines(self) -> list[DiffLine]:
        return self._lines

    @property
    def summary(self) -> str:
        files, added, removed = stats(self._lines)
        return f"{counted(files, 'file')}, +{added} −{removed}"

    def watch_split(self, split: bool) -> None:
        self.scroll_to(0, 0, animate=False)
        self._update_virtual_size()
        self.refresh()
        self.post_message(self.ModeChanged(self, split))

    def on_resize(self) -> None:
        self._update_virtual_size()

    def _gutter_width(self) -> int:
        return 2 * _NUM + 3 if not self.split else _NUM + 2

    def _update_virtual_size(self) -> None:
        if self.split:
            self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows))
        else:
            self.virtual_size = Size(self._gutter_width() + self._text_width, len(self._lines))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()

    def action_line(self, delta: int) -> None:
        self.scroll_relative(y=delta, animate=False)

    def action_column(self, delta: int) -> None:
        self.scroll_relative(x=delta, animate=False)

    # --- rendering -----------------------------------------------------------------
    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"diff-view--{name}")

    def _gutter(self, line_style: Style) -> Style:
        """The line's own style (its background) with the gutter's colour on top."""
        return line_style + self.get_component_rich_style("diff-view--gutter", partial=True)

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        if self.split:
            if index >= len(self._rows):
                return Strip.blank(width, self.rich_style)
            return self._split_row(self._rows[index], width)
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        return self._unified_line(self._lines[index], width)

    def _number(self, value: int | None) -> str:
        return f"{value:>{_NUM}}" if value is not None else " " * _NUM

    def _unified_line(self, line: DiffLine, width: int) -> Strip:
        scroll_x = self.scroll_offset.x
        gutter_w = self._gutter_width()
        if line.kind in ("file", "hunk", "meta"):
            style = self._style(line.kind)
            body = Strip([Segment(line.text, style)]).crop(scroll_x, scroll_x + width)
            return body.extend_cell_length(width, style)
        style = self._style(line.kind)
        gutter_text = f"{self._number(line.old_no)} {self._number(line.new_no)} {line.marker}"
        gutter = Segment(gutter_text.ljust(gutter_w), self._gutter(style))
        text_w = max(0, width - gutter_w)
        body = Strip([Segment(line.text, style)]).crop(scroll_x, scroll_x + text_w)
        return Strip([gutter, *body]).extend_cell_length(width, style)

    def _cell(self, line: DiffLine | None, number: int | None, width: int) -> list[Segment]:
        if line is None:
            blank = self._style("blank")
            return [Segment(" " * width, blank)]
        style = self._style(line.kind)
        # the marker keeps added / removed readable without colour
        gutter = Segment(f"{self._number(number)} {line.marker or ' '}", self._gutter(style))
        text_w = max(0, width - _NUM - 2)
        text = line.text
        if cell_len(text) > text_w:
            text = Strip([Segment(text, style)]).crop(0, max(0, text_w - 1)).text + "…"
        body = Strip([Segment(text, style)]).extend_cell_length(text_w, style)
        return [gutter, *body]

    def _split_row(self, row: SplitRow, width: int) -> Strip:
        if row.span is not None:
            style = self._style(row.span.kind)
            return Strip([Segment(row.span.text, style)]).crop(0, width).extend_cell_length(
                width, style)
        left_w = (width - 1) // 2
        right_w = width - 1 - left_w
        left = self._cell(row.left, row.left.old_no if row.left else None, left_w)
        right = self._cell(row.right, row.right.new_no if row.right else None, right_w)
        divider = Segment("│", self._style("divider"))
        return Strip([*left, divider, *right]).crop(0, width)
