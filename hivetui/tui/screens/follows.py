"""What a screen follows of the live hive: the app routes updates by these bases.

The app checks a screen on its stack against these small classes, never against the
screen classes themselves, so it imports no screen (and none of its widgets: terminal
emulator, charts) before the operator opens it.
"""

from __future__ import annotations

from typing import ClassVar


class TakesRefreshes:
    """Gets ``HiveRefreshed``: the pump's coalesced changes (agents, counts, messages)."""


class TakesQueueEvents:
    """Gets approval and question events, as they come, as ``LiveEvent`` (it filters)."""

    QUEUE: ClassVar[str] = ""
    """The queue the screen lists (``approvals``, ``questions``, ``kept``): its alerts need
    no toast there."""


class TakesRosterChanges:
    """Gets ``LiveEvent(AgentChanged(what="kept"))`` when agents come or go."""
