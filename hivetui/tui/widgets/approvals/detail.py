"""The selected request: what it is, its settings, and its diff (the whole config for spawns)."""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from hivetui.core.ages import SYSTEM_CLOCK, Clock, format_age
from hivetui.core.kinds import SPAWN_KINDS
from hivetui.core.views import Approval
from hivetui.core.visible import visible_line
from hivetui.tui.widgets.approvals.queue import KIND_LABELS, short_commit
from hivetui.tui.widgets.diff_view import DiffView


def detail_lines(detail: str) -> list[str]:
    """``detail`` as display lines: a JSON object becomes ``key: value`` lines."""
    text = detail.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return [visible_line(line) for line in text.split("\n")]
    if isinstance(data, dict):
        return [visible_line(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
                for key, value in data.items()]
    return [visible_line(line) for line in text.split("\n")]


class ApprovalDetail(Vertical):
    """Summary lines over a :class:`DiffView`; ``show(None)`` says the queue is empty."""

    ALLOW_MAXIMIZE = True

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self.approval: Approval | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="approval-summary", markup=False)
        yield DiffView(id="approval-diff")

    @property
    def diff_view(self) -> DiffView:
        return self.query_one("#approval-diff", DiffView)

    def show(self, approval: Approval | None) -> None:
        summary = self.query_one("#approval-summary", Static)
        view = self.diff_view
        previous, self.approval = self.approval, approval
        if approval is None:
            summary.update("No pending approvals: requests from the manager appear here.")
            view.set_diff("", empty="")
            return
        lines = [self._headline(approval)]
        lines.extend(detail_lines(approval.detail))
        if approval.kind in SPAWN_KINDS:
            empty = (f"{approval.agent} starts from the default config "
                     "(no draft to review)")
        else:
            empty = "(the diff is empty: this commit changes nothing)"
        if previous is None or previous.id != approval.id or previous.diff != approval.diff:
            view.set_diff(approval.diff, empty=empty)
        if approval.diff.strip():
            label = "whole proposed config" if approval.kind in SPAWN_KINDS else "changes"
            lines.append(f"{label}: {view.summary}")
        summary.update("\n".join(lines))

    def _headline(self, a: Approval) -> str:
        age = format_age(a.created_at, self._clock())
        kind = KIND_LABELS.get(a.kind, a.kind)
        if a.kind in SPAWN_KINDS:
            what = f"#{a.id} {kind}: new agent {a.agent}"
        else:
            what = f"#{a.id} {kind}: {a.agent}"
        return visible_line(
            f"{what} · commit {short_commit(a.commit)} · by {a.requested_by} · {age} ago")
