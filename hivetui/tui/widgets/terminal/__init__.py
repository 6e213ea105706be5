"""The embedded PTY terminal: emulator (headless), PTY process, Textual widget."""

from hivetui.tui.widgets.terminal.widget import (
    RELEASE_KEY,
    Terminal,
    TerminalExited,
    TerminalFocusReleased,
)

__all__ = ["RELEASE_KEY", "Terminal", "TerminalExited", "TerminalFocusReleased"]
