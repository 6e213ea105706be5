"""The terminal tab: a root shell in the agent's container, opened when the tab is.

The shell's argv comes from ``api.shell_argv`` (audited, refused to read-only
operators); the :class:`~hivetui.tui.widgets.terminal.Terminal` widget runs it on a PTY.
``ctrl+]`` gives the keyboard back to the TUI; the shell keeps running.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from hivetui.core.api import HiveAPI
from hivetui.tui.guard import attempt
from hivetui.tui.widgets.terminal import Terminal


class TerminalPane(Vertical, can_focus=True):
    BINDINGS = [Binding("enter", "open", "Open shell", show=True)]

    def __init__(self, api: HiveAPI, agent: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.api = api
        self.agent = agent
        self.terminal: Terminal | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"A root shell in h-{self.agent} opens here (enter). "
                     "ctrl+] leaves the terminal; the shell keeps running.",
                     id="terminal-hint", markup=False)

    async def open(self) -> None:
        if self.terminal is not None and self.terminal.running:
            self.terminal.focus()
            return
        argv = await attempt(self.app, self.api.shell_argv(self.agent))
        if argv is None:
            return
        if self.terminal is not None:
            await self.terminal.remove()
        self.terminal = Terminal(argv, id="terminal")
        await self.mount(self.terminal)
        self.query_one("#terminal-hint", Static).update(
            f"h-{self.agent}: ctrl+] leaves the terminal")
        self.terminal.focus()

    async def action_open(self) -> None:
        await self.open()

    @on(Terminal.FocusReleased)
    def _released(self) -> None:
        self.screen.focus_next()

    @on(Terminal.Exited)
    def _exited(self, event: Terminal.Exited) -> None:
        self.query_one("#terminal-hint", Static).update(
            f"the shell exited with status {event.returncode}: enter opens a new one")
