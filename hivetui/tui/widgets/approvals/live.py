"""The message that carries a live hive event to a screen.

The app reads ``api.events()`` once and posts ``LiveEvent(event)`` to the screens that
show live state (``screen.post_message(LiveEvent(ev))``); a screen built with
``subscribe=True`` reads the stream itself instead (for use without such an app).
"""

from __future__ import annotations

from textual.message import Message

from hivetui.core.events import Event


class LiveEvent(Message, bubble=False):
    """One event from ``HiveAPI.events()``."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
