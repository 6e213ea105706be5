"""The top bar of every hive screen: who, the fleet at a glance, pending approvals/questions."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from hivetui.core.views import AgentView
from hivetui.core.words import counted
from hivetui.tui.widgets.agent_state import badge


class HiveHeader(Horizontal):
    """``update_counts`` refreshes it; counts above zero get the ``-pending`` class. A
    read-only session (its changes refused) shows "read-only" beside the operator's name.

    While the app's ``starting`` attribute is true (an embedded core still starting its
    services: see ``HiveApp``) it shows "starting…".
    """

    DEFAULT_CSS = """
    HiveHeader {
        dock: top;
        height: 1;
        width: 100%;
        background: $panel;
        color: $foreground;
    }

    HiveHeader Label {
        height: 1;
        padding: 0 1;
    }

    HiveHeader #brand {
        background: $primary;
        color: $text;
        text-style: bold;
    }

    HiveHeader #who {
        color: $text-muted;
    }

    HiveHeader #fleet-summary {
        width: 1fr;
    }

    HiveHeader #approvals-count, HiveHeader #questions-count {
        width: 14;
        color: $text-muted;
    }

    HiveHeader #read-only {
        background: $secondary;
        color: $background;
        text-style: bold;
    }

    HiveHeader #starting {
        background: $warning;
        color: $background;
        text-style: bold;
    }

    HiveHeader .-pending {
        background: $warning;
        color: $background;
        text-style: bold;
    }
    """

    def __init__(self, operator: str, where: str = "", *, read_only: bool = False,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self._operator = operator
        self._where = where
        self._read_only = read_only

    def compose(self) -> ComposeResult:
        yield Label("⬢ hivetui", id="brand")
        yield Label(f"{self._operator}{' · ' + self._where if self._where else ''}",
                    id="who", markup=False)
        if self._read_only:  # the session's changes are refused: say so on every screen
            yield Label("read-only", id="read-only", markup=False)
        yield Label("", id="fleet-summary", markup=False)
        yield Label("", id="approvals-count", markup=False)
        yield Label("", id="questions-count", markup=False)
        yield Label("starting…", id="starting", markup=False)

    def on_mount(self) -> None:
        # any app works: one without a `starting` attribute never shows the label
        self.watch(self.app, "starting", self._show_starting)

    def _show_starting(self, starting: object) -> None:
        self.query_one("#starting", Label).display = bool(starting)

    def update_counts(self, agents: Mapping[str, AgentView], approvals: int,
                      questions: int) -> None:
        words: dict[str, int] = {}
        for view in agents.values():
            word = badge(view).word
            words[word] = words.get(word, 0) + 1
        # what needs the operator first: a narrow header cuts from the end
        parts = [f"{glyph} {words[word]} {word}"
                 for word, glyph in (("waiting", "⚑"), ("crashed", "✖"), ("looping", "⟳"))
                 if words.get(word)]
        running = sum(1 for v in agents.values() if v.state == "running")
        parts.append(f"{counted(len(agents), 'agent')}, {running} running")
        _set(self.query_one("#fleet-summary", Label), " · ".join(parts))
        self._count("#approvals-count", "approval", approvals)
        self._count("#questions-count", "question", questions)

    def _count(self, selector: str, noun: str, count: int) -> None:
        label = self.query_one(selector, Label)
        _set(label, f"{noun}s {count}")
        label.set_class(count > 0, "-pending")


def _set(label: Label, text: str) -> None:
    """Update only on change, without a layout pass (the header's widths are fixed)."""
    if str(label.content) != text:
        label.update(text, layout=False)
