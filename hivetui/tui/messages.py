"""Messages the hive widgets and screens post; the app acts on them in one place."""

from __future__ import annotations

from textual.message import Message

from hivetui.tui.commands import Command
from hivetui.tui.state import Changes


class HiveCommand(Message):
    """Do this (from a key, the `:` line, the palette or the compose box)."""

    def __init__(self, command: Command) -> None:
        super().__init__()
        self.command = command


class HiveRefreshed(Message):
    """The app re-read what the latest events touched (at most ~10 per second)."""

    def __init__(self, changes: Changes) -> None:
        super().__init__()
        self.changes = changes
