"""The terminal tab: a root shell in the agent's container, opened when the tab is.

The shell's argv comes from ``api.shell_argv`` (audited, refused to read-only
operators); the :class:`~hivetui.tui.widgets.terminal.Terminal` widget runs it on a PTY.

Leaving never ends the shell: ``ctrl+]`` moves the keyboard to this pane (``enter``
goes back in), and the agent screen is kept while its shell runs. Only ``ctrl+d`` here,
confirmed, closes the shell, or the shell's own exit. The hint line above the shell says
at all times where the keys go and how to get in and out.

Right after ``ctrl+]`` the operator may still believe the shell has the keyboard: here
letters and punctuation (``make``, ``:wq``) reach no agent action and no prompt; they
ring the bell and the hint says how to get back. Digits still switch tabs, escape
still leaves.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from hivetui.core.api import HiveAPI
from hivetui.terminal.palette import XTERM, Rgb
from hivetui.tui.guard import attempt
from hivetui.tui.screens.confirm import ConfirmScreen
from hivetui.tui.widgets.terminal import Terminal


class TerminalPane(Vertical, can_focus=True):
    BINDINGS = [
        Binding("enter", "open", "Open a shell", show=True),
        Binding("enter", "enter", "Back to the shell", show=True),
        Binding("ctrl+d", "close", "Close the shell", show=True),
    ]

    def __init__(self, api: HiveAPI, agent: str, *, palette: Sequence[Rgb] = XTERM,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.api = api
        self.agent = agent
        self.palette = tuple(palette)
        self.terminal: Terminal | None = None

    @property
    def shell_running(self) -> bool:
        return self.terminal is not None and self.terminal.running

    def compose(self) -> ComposeResult:
        yield Static(f"A root shell in h-{self.agent} opens here (enter).",
                     id="terminal-hint", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":
            return not self.shell_running
        if action in ("enter", "close"):
            return self.shell_running
        return True

    async def open(self) -> None:
        if self.shell_running:
            assert self.terminal is not None
            self.terminal.focus()
            return
        argv = await attempt(self.app, self.api.shell_argv(self.agent))
        if argv is None:
            return
        if self.terminal is not None:
            await self.terminal.remove()
        self.terminal = Terminal(argv, palette=self.palette, id="terminal")
        await self.mount(self.terminal)
        self.terminal.focus()
        self.refresh_bindings()

    async def action_open(self) -> None:
        await self.open()

    async def action_enter(self) -> None:
        await self.open()

    def action_close(self) -> None:
        terminal = self.terminal
        if terminal is None or not terminal.running:
            return

        async def answered(answer: str | None) -> None:
            if answer is not None and terminal is self.terminal:
                await terminal.aclose()

        self.app.push_screen(ConfirmScreen(
            f"Close the shell in h-{self.agent}?",
            "Its programs are hung up (SIGHUP): unsaved work in them is lost.",
            confirm_label="Close"), answered)

    # --- where the keys go ----------------------------------------------------------
    def _hint(self, text: str, *, outside: bool = False) -> None:
        hint = self.query_one("#terminal-hint", Static)
        hint.update(text)
        hint.set_class(outside, "-outside")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if event.widget is self.terminal and self.shell_running:
            self._hint(f"h-{self.agent}: keys go to the shell · ctrl+] leaves it "
                       "(the shell keeps running)")

    def on_focus(self) -> None:
        if self.shell_running:
            self._hint(f"outside the shell: enter returns to the shell in h-{self.agent}"
                       " · 1-3 other tabs · escape leaves · ctrl+d closes it", outside=True)

    def on_key(self, event: events.Key) -> None:
        """Typing meant for the shell stops here (see the module's docstring)."""
        character = event.character
        if (self.has_focus and self.shell_running and character is not None
                and character.isprintable() and not character.isdigit()):
            event.stop()
            event.prevent_default()
            self.app.bell()
            self.on_focus()

    @on(Terminal.FocusReleased)
    def _released(self) -> None:
        self.focus()

    @on(Terminal.Exited)
    def _exited(self, event: Terminal.Exited) -> None:
        self._hint(f"the shell exited with status {event.returncode}: enter opens a new one")
        self.refresh_bindings()
