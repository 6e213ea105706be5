"""Approvals: the queue of requests that change the hive, and the diff of the selected one.

Talks only to :class:`hivetui.core.api.HiveAPI`. Live updates as every queue screen
(:mod:`hivetui.tui.screens.queue_base`): ``ApprovalRequested``, ``ApprovalResolved`` and
``Lagged`` re-read the queue, or the app calls :meth:`refresh_queue`.

Keys: ``a`` approve, ``d`` deny (asks for a reason), ``j``/``k`` move, ``enter`` open
(the diff fills the screen and takes focus, ``escape`` restores), ``s`` unified /
side by side, ``R`` re-read, ``escape`` back.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from hivetui.core.events import ApprovalRequested, ApprovalResolved, Lagged
from hivetui.core.views import Approval
from hivetui.tui.screens.deny_reason import DenyReasonScreen
from hivetui.tui.screens.queue_base import QueueScreen, queue_bindings
from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.widgets.approvals.detail import ApprovalDetail
from hivetui.tui.widgets.approvals.queue import KIND_LABELS, ApprovalQueue
from hivetui.tui.widgets.chrome.footer import HiveFooter
from hivetui.tui.widgets.diff_view import DiffView

log = logging.getLogger(__name__)

LIVE_EVENTS = (ApprovalRequested, ApprovalResolved, Lagged)
AGE_TICK_S = 10.0


class ApprovalsScreen(QueueScreen):
    """The approval queue with the selected request's diff."""

    CSS_PATH = style_path("approvals.tcss")
    ESCAPE_TO_MINIMIZE: ClassVar[bool | None] = False  # action_back restores, then refocuses
    ALLOW_IN_MAXIMIZED_VIEW: ClassVar[str | None] = "Footer"
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"), (150, "-wide"),
    ]
    LIVE_EVENTS = LIVE_EVENTS
    AGE_TICK_S = AGE_TICK_S
    QUEUE = "approvals"
    READ_ONLY_REFUSED = {"approve": "approve a request", "deny": "deny a request"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("d", "deny", "Deny"),
        Binding("enter", "open", "Open"),
        Binding("s", "toggle_split", "Side by side"),
        *queue_bindings("Next request", "Previous request"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Approvals", id="approvals-title", markup=False)
        with Vertical(id="approvals-body"):
            yield ApprovalQueue(clock=self._clock, id="approvals-queue")
            yield ApprovalDetail(clock=self._clock, id="approvals-detail")
        yield HiveFooter()

    # --- data ----------------------------------------------------------------------
    @property
    def queue(self) -> ApprovalQueue:
        return self.query_one("#approvals-queue", ApprovalQueue)

    main_list = queue

    @property
    def detail(self) -> ApprovalDetail:
        return self.query_one("#approvals-detail", ApprovalDetail)

    @property
    def selected(self) -> Approval | None:
        return self.queue.selected

    async def refresh_queue(self) -> None:
        """Re-read the pending approvals from the API and show them."""
        approvals = await self.calls.read("read approvals", self.api.approvals())
        if approvals is None or not self.is_attached:
            return
        self.queue.show(approvals)
        self.detail.show(self.queue.selected)
        self._update_title(approvals)

    async def reread(self) -> None:
        await self.refresh_queue()

    def _update_title(self, approvals: list[Approval]) -> None:
        count = len(approvals)
        self._show_title("#approvals-title",
                         f"Approvals · {count} pending" if count else "Approvals · none pending")

    def _tick(self) -> None:
        self.queue.refresh_ages()

    # --- widgets' messages ------------------------------------------------------------
    @on(ApprovalQueue.Highlighted, "#approvals-queue")
    def _highlighted(self, message: ApprovalQueue.Highlighted) -> None:
        self.detail.show(message.approval)
        self.refresh_bindings()

    @on(ApprovalQueue.Opened, "#approvals-queue")
    def _opened(self, message: ApprovalQueue.Opened) -> None:
        self.action_open()

    @on(DiffView.ModeChanged, "#approval-diff")
    def _mode_changed(self, message: DiffView.ModeChanged) -> None:
        self.detail.set_class(message.split, "-split")

    # --- actions -----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)  # read-only: approve, deny
        if allowed and action in ("approve", "deny", "open") and self.queue.selected is None:
            return None  # shown disabled: nothing selected
        return allowed

    def action_open(self) -> None:
        view = self.detail.diff_view
        self.maximize(self.detail, container=False)
        view.focus()

    def action_toggle_split(self) -> None:
        view = self.detail.diff_view
        view.split = not view.split

    def _step_back(self) -> bool:
        if self.maximized is None:
            return False
        self.minimize()
        self.queue.focus()
        return True

    def action_approve(self) -> None:
        approval = self.queue.selected
        if approval is None:
            return
        self.calls.run(f"approval-{approval.id}", f"approve #{approval.id}",
                       self.api.approve(approval.id), self._resolved)

    def action_deny(self) -> None:
        approval = self.queue.selected
        if approval is None:
            return
        what = f"#{approval.id} ({KIND_LABELS.get(approval.kind, approval.kind)} {approval.agent})"

        def deny_with(reason: str | None) -> None:
            if reason is None:
                return
            self.calls.run(f"approval-{approval.id}", f"deny #{approval.id}",
                           self.api.deny(approval.id, reason), self._resolved)

        self.app.push_screen(DenyReasonScreen(what), deny_with)

    def _resolved(self, approval: Approval) -> None:
        verb = "approved" if approval.state == "approved" else approval.state
        text = f"{KIND_LABELS.get(approval.kind, approval.kind)} for {approval.agent}"
        if approval.reason:
            text += f": {approval.reason}"
        self.notify(text, title=f"#{approval.id} {verb}",
                    severity="information" if approval.state == "approved" else "warning")
        self.call_later(self.refresh_queue)
