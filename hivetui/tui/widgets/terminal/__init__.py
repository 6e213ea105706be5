"""The embedded PTY terminal's Textual widget, drawing the headless engine of
``hivetui.terminal``.

The widget names are loaded on first access, so importing this package costs
nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hivetui.tui.widgets.terminal.widget import (
        RELEASE_KEY,
        Terminal,
        TerminalExited,
        TerminalFocusReleased,
    )

__all__ = ["RELEASE_KEY", "Terminal", "TerminalExited", "TerminalFocusReleased"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hivetui.tui.widgets.terminal import widget

        return getattr(widget, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
