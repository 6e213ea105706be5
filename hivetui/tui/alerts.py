"""One toast per happening: the core's notifications that repeat a crash alert are dropped.

For one crash, crash_watch publishes the structured ``ContainerCrash`` (exit status and the
last log lines: the app's toast "NAME crashed") and then a ``Notification`` "container
crashed" about the same agent, for surfaces that do not know ``ContainerCrash``; likewise
``CrashLoop`` and "crash loop". The app shows the structured one and, through
:class:`AlertEchoes`, drops the notification that follows it for the same agent. A
notification with no such alert before it (say the stream lagged past the crash) is shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hivetui.core.events import ContainerCrash, CrashLoop, Notification

#: crash_watch's notification titles, and the alert each repeats (hivetui/core/crash_watch.py)
ECHO_TITLES: dict[str, type[ContainerCrash | CrashLoop]] = {
    "container crashed": ContainerCrash,
    "crash loop": CrashLoop,
}
#: the notification follows its alert at once (one manager-inbox write between them)
ECHO_WINDOW_S = 30.0


class AlertEchoes:
    """Remembers the crash alerts shown; each lets one matching notification be dropped."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._shown: dict[tuple[type[ContainerCrash | CrashLoop], str], float] = {}

    def shown(self, ev: ContainerCrash | CrashLoop) -> None:
        self._shown[(type(ev), ev.agent)] = self._clock()

    def is_echo(self, ev: Notification) -> bool:
        """True (once) when ``ev`` repeats a crash alert just shown for its agent."""
        kind = ECHO_TITLES.get(ev.title)
        if kind is None or not ev.agent:
            return False
        at = self._shown.pop((kind, ev.agent), None)
        return at is not None and self._clock() - at <= ECHO_WINDOW_S
