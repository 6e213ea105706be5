"""Kept state: destroyed agents whose state and config are kept, and spawn drafts.

Talks only to :class:`hivetui.core.api.HiveAPI`: ``kept()``, ``revive(name)``,
``purge(name, confirm)`` and ``drafts()``. Purge asks the operator to type the agent's
name (:class:`~hivetui.tui.screens.confirm.ConfirmScreen`) and passes what was typed as
``confirm``. Live updates as every queue screen (:mod:`hivetui.tui.screens.queue_base`):
agent and approval events and ``Lagged`` re-read both lists, or the app calls
:meth:`refresh_lists`.

Keys: ``r`` revive, ``p`` purge, ``j``/``k`` move, ``tab`` kept ↔ drafts, ``R`` re-read,
``escape`` back.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from hivetui.core.events import (
    AgentChanged,
    AgentStopped,
    ApprovalRequested,
    ApprovalResolved,
    Lagged,
)
from hivetui.core.views import AgentView
from hivetui.tui.screens.confirm import ConfirmScreen
from hivetui.tui.screens.follows import TakesRosterChanges
from hivetui.tui.screens.queue_base import QueueScreen, queue_bindings
from hivetui.tui.screens.stylesheet import style_path
from hivetui.tui.widgets.approvals.draft_list import DraftList
from hivetui.tui.widgets.approvals.kept_list import KeptList
from hivetui.tui.widgets.chrome.footer import HiveFooter

LIVE_EVENTS = (AgentChanged, AgentStopped, ApprovalRequested, ApprovalResolved, Lagged)


class KeptScreen(QueueScreen, TakesRosterChanges):
    """Kept agents (revive, purge) and spawn drafts."""

    CSS_PATH = style_path("kept.tcss")
    LIVE_EVENTS = LIVE_EVENTS
    QUEUE = "kept"
    READ_ONLY_REFUSED = {"revive": "revive a kept agent", "purge": "purge a kept agent"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "revive", "Revive"),
        Binding("p", "purge", "Purge"),
        *queue_bindings("Next", "Previous"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Kept agents and drafts", id="kept-title", markup=False)
        yield Static("Kept agents", id="kept-heading", classes="kept-heading")
        yield KeptList(id="kept-list")
        yield Static("Drafts", id="drafts-heading", classes="kept-heading")
        yield DraftList(clock=self._clock, id="drafts-list")
        yield HiveFooter()

    @property
    def kept_list(self) -> KeptList:
        return self.query_one("#kept-list", KeptList)

    main_list = kept_list

    @property
    def draft_list(self) -> DraftList:
        return self.query_one("#drafts-list", DraftList)

    async def refresh_lists(self) -> None:
        """Re-read kept agents and drafts from the API and show them."""
        kept = await self.calls.read("read kept agents", self.api.kept())
        drafts = await self.calls.read("read drafts", self.api.drafts())
        if kept is None or drafts is None or not self.is_attached:
            return
        self.kept_list.show(kept)
        self.draft_list.show(drafts)
        self.query_one("#kept-heading", Static).update(
            f"Kept agents · {len(kept)}" + ("" if kept else
                                            " · destroyed agents' state is kept here"))
        self.query_one("#drafts-heading", Static).update(
            f"Drafts · {len(drafts)}" + ("" if drafts else
                                         " · the manager's proposed agents show here"))
        self.refresh_bindings()

    async def reread(self) -> None:
        await self.refresh_lists()

    @on(KeptList.Highlighted, "#kept-list")
    def _highlighted(self, message: KeptList.Highlighted) -> None:
        self.refresh_bindings()

    # --- actions -----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)  # read-only: revive, purge
        if allowed and action in ("revive", "purge") and self.kept_list.selected is None:
            return None
        return allowed

    def _cursor_list(self) -> DataTable[str | Text]:
        return self.draft_list if self.focused is self.draft_list else self.kept_list

    def action_revive(self) -> None:
        name = self.kept_list.selected
        if name is None:
            return
        self.calls.run(f"kept-{name}", f"revive {name}", self.api.revive(name), self._revived)

    def _revived(self, agent: AgentView) -> None:
        self.notify(f"{agent.name} is back with its kept state ({agent.state})",
                    title=f"Revived {agent.name}")
        self.call_later(self.refresh_lists)

    def action_purge(self) -> None:
        name = self.kept_list.selected
        if name is None:
            return

        def purge_with(typed: str | None) -> None:
            if typed is None:
                return
            self.calls.run(f"kept-{name}", f"purge {name}", self.api.purge(name, typed),
                           lambda _: self._purged(name))

        self.app.push_screen(
            ConfirmScreen(f"Purge {name}?",
                          f"This deletes {name}'s kept state and config for good; it cannot "
                          "be revived afterwards.", confirm_label="Purge", typed=name),
            purge_with)

    def _purged(self, name: str) -> None:
        self.notify(f"{name}'s kept state and config are deleted", title=f"Purged {name}")
        self.call_later(self.refresh_lists)
