"""The one backoff: doubling to a cap, each wait jittered, reset by a success."""

from __future__ import annotations

import math
import random

import pytest

from hivetui.core.backoff import Backoff


def test_doubles_to_the_cap_within_the_jitter_band() -> None:
    backoff = Backoff(1.0, 30.0, uniform=random.Random(7).random)
    waits = [backoff.next() for _ in range(8)]
    bases = [1, 2, 4, 8, 16, 30, 30, 30]
    for wait, base in zip(waits, bases, strict=True):
        assert base / 2 <= wait <= base
    assert backoff.failures == 8
    backoff.reset()
    assert backoff.next() <= 1.0


def test_waits_differ_between_callers() -> None:
    """A herd that failed together does not retry in step (the point of the jitter)."""
    herd = [Backoff(1.0, 30.0) for _ in range(20)]
    third = {round(b.delay(3), 6) for b in herd}
    assert len(third) > 10 and all(2.0 <= w <= 4.0 for w in third)


def test_edges() -> None:
    fixed = Backoff(10.0, 300.0, uniform=lambda: 0.0)  # no jitter drawn: the plain doubling
    assert [fixed.delay(n) for n in (0, 1, 2, 6, 10_000)] == [0.0, 10.0, 20.0, 300.0, 300.0]
    assert Backoff(3600.0, 300.0, uniform=lambda: 0.0).delay(1) == 300.0  # first above cap
    assert Backoff(0.0, 300.0).delay(5) == 0.0  # retry at once (tests)
    with pytest.raises(ValueError, match="backoff waits must be >= 0"):
        Backoff(math.nan, 1.0)
    with pytest.raises(ValueError, match="jitter"):
        Backoff(1.0, 2.0, jitter=1.5)
