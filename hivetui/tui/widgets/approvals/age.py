"""Short human ages ("42s", "5m", "3h", "2d") from an injectable clock."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]

SYSTEM_CLOCK: Clock = time.time


def format_age(since: float, now: float) -> str:
    seconds = max(0, int(now - since))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
