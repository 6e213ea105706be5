"""Waits between retries: doubling from a first wait up to a cap, each with random jitter.

The one backoff of the hive: the harness reconnecting to the bridge (at start and in its
loop), the harness after failed turns, and the core restarting a failed service. Jitter
matters because failures come in herds: a core restart drops every agent's connection at
once, an API outage fails every agent's turn at once; without it they all retry in step.

Each wait is drawn from ``[(1 - jitter) * base, base]`` where ``base`` doubles from
``first_s`` per failure in a row and stops at ``cap_s`` (a first wait above the cap is the
cap): never longer than the cap, never shorter than half the plain doubling (with the
default jitter of one half).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

#: past this many doublings the base is the cap anyway (and 2**n stays a small float)
_MAX_DOUBLINGS = 32


@dataclass
class Backoff:
    first_s: float
    cap_s: float
    jitter: float = 0.5
    #: a number in [0, 1); tests pass a fixed one
    uniform: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = 0

    def __post_init__(self) -> None:
        if not (self.first_s >= 0 and self.cap_s >= 0):  # also refuses nan
            raise ValueError(f"backoff waits must be >= 0 seconds, got first_s "
                             f"{self.first_s!r} and cap_s {self.cap_s!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be from 0 to 1, got {self.jitter!r}")

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row (none: no wait)."""
        if failures <= 0:
            return 0.0
        base = min(self.cap_s, self.first_s * 2.0 ** min(failures - 1, _MAX_DOUBLINGS))
        return base * (1.0 - self.jitter * self.uniform())

    def next(self) -> float:
        """Count one more failure; the wait before the next try."""
        self.failures += 1
        return self.delay(self.failures)

    def reset(self) -> None:
        """A try succeeded: the next failure waits ``first_s`` again."""
        self.failures = 0
