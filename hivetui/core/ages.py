"""Short human ages, the one formatter every view uses (fleet, queues, charts, ``ctl``).

An age is shown in its largest whole unit: ``42s``, ``1m`` (at 60 to 119 seconds),
``3h``, ``2d``. A time in the future (clock skew between the core and a view) reads
``0s``, never a negative age. The clock is injectable so fixtures can freeze it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

Clock = Callable[[], float]

SYSTEM_CLOCK: Clock = time.time

_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def format_seconds(seconds: float) -> str:
    """``seconds`` in the largest whole unit: 12s, 4m, 3h, 2d."""
    seconds = max(0.0, seconds)
    for unit, size in _UNITS:
        if seconds >= size:
            return f"{math.floor(seconds / size)}{unit}"
    return f"{math.floor(seconds)}s"


def format_age(since: float, now: float) -> str:
    """How long ago ``since`` was, at ``now``."""
    return format_seconds(now - since)
