"""Unified git diff text → typed lines, and the pairing of those lines side by side.

Pure functions, no Textual: :class:`hivetui.tui.widgets.diff_view.DiffView` renders
what these return. A removed run followed by an added run is paired row by row
(the way ``git difftool`` / GitHub's split view show a change); context lines sit on
both sides; headers (file names, hunk ranges) span the whole row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hivetui.core.visible import visible_line

LineKind = Literal["file", "hunk", "add", "del", "ctx", "meta"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_FILE_HEADERS = ("diff --git ", "--- ", "+++ ")


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: LineKind
    text: str  # for add/del/ctx without the leading marker; headers in full
    old_no: int | None = None
    new_no: int | None = None

    @property
    def marker(self) -> str:
        return {"add": "+", "del": "-", "ctx": " "}.get(self.kind, "")


@dataclass(frozen=True, slots=True)
class SplitRow:
    """One row of the side-by-side view: a spanning header, or a left and a right cell."""

    left: DiffLine | None = None
    right: DiffLine | None = None
    span: DiffLine | None = None


def diff_lines(diff: str) -> list[str]:
    """``diff`` cut at ``\n`` only, as git writes it: ``str.splitlines`` would also cut at
    ``\r``, ``\v``, ``\f``, ``\x1c``-``\x1e``, ``\x85``, U+2028 and U+2029, which a
    config file may hold inside one line (a line of its own could then forge a header,
    and the hunk's line numbers would go wrong)."""
    if not diff:
        return []
    return (diff[:-1] if diff.endswith("\n") else diff).split("\n")


def parse_unified(diff: str) -> list[DiffLine]:
    """Parse ``git diff`` output; text that is not a diff comes back as ``meta`` lines.
    Every line's text is made :func:`~hivetui.core.visible.visible_line` (the config is the
    manager's: its controls are shown, never interpreted)."""
    lines: list[DiffLine] = []
    old_left = new_left = 0  # lines still expected in the current hunk
    old_no = new_no = 0
    for raw in diff_lines(diff):
        line = visible_line(raw)
        in_hunk = old_left > 0 or new_left > 0
        if in_hunk and line.startswith("\\"):
            lines.append(DiffLine("meta", line))
            continue
        if in_hunk and raw[:1] in ("+", "-", " ", ""):
            marker, text = raw[:1], visible_line(raw[1:])  # tabs expand from the text's start
            if marker == "+":
                lines.append(DiffLine("add", text, None, new_no))
                new_no += 1
                new_left -= 1
            elif marker == "-":
                lines.append(DiffLine("del", text, old_no, None))
                old_no += 1
                old_left -= 1
            else:  # context ("" is a blank context line whose space was trimmed)
                lines.append(DiffLine("ctx", text, old_no, new_no))
                old_no += 1
                new_no += 1
                old_left -= 1
                new_left -= 1
            continue
        match = _HUNK.match(line)
        if match:
            old_no, new_no = int(match.group(1)), int(match.group(3))
            old_left = int(match.group(2)) if match.group(2) is not None else 1
            new_left = int(match.group(4)) if match.group(4) is not None else 1
            lines.append(DiffLine("hunk", line))
            continue
        old_left = new_left = 0
        kind: LineKind = "file" if line.startswith(_FILE_HEADERS) else "meta"
        lines.append(DiffLine(kind, line))
    return lines


def side_by_side(lines: list[DiffLine]) -> list[SplitRow]:
    """Pair removed and added runs; everything else keeps its place."""
    rows: list[SplitRow] = []
    dels: list[DiffLine] = []
    adds: list[DiffLine] = []

    def flush() -> None:
        for i in range(max(len(dels), len(adds))):
            rows.append(SplitRow(left=dels[i] if i < len(dels) else None,
                                 right=adds[i] if i < len(adds) else None))
        dels.clear()
        adds.clear()

    for line in lines:
        if line.kind == "del":
            if adds:  # a new change block starts
                flush()
            dels.append(line)
        elif line.kind == "add":
            adds.append(line)
        else:
            flush()
            if line.kind == "ctx":
                rows.append(SplitRow(left=line, right=line))
            else:
                rows.append(SplitRow(span=line))
    flush()
    return rows


def stats(lines: list[DiffLine]) -> tuple[int, int, int]:
    """(files, lines added, lines removed)."""
    files = sum(1 for line in lines if line.kind == "file" and line.text.startswith("diff "))
    if not files:
        files = sum(1 for line in lines if line.kind == "file" and line.text.startswith("+++ "))
    added = sum(1 for line in lines if line.kind == "add")
    removed = sum(1 for line in lines if line.kind == "del")
    return files, added, removed
