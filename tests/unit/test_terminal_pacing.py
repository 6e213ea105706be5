"""Frame pacing: rate caps and prompt frames for the echo of input (no Textual)."""

from __future__ import annotations

import pytest

from hivetui.terminal.pacing import (
    BUSY_INTERVAL,
    ECHO_DEADLINE,
    MIN_INTERVAL,
    FramePacer,
)


def test_rate_caps_follow_cost_and_flooding() -> None:
    pacer = FramePacer()
    pacer.frame_done(10.0, 0.0001, busy=False)
    assert pacer.delay(10.0) == pytest.approx(MIN_INTERVAL)
    pacer.frame_done(20.0, 0.0001, busy=True)
    assert pacer.delay(20.0) == pytest.approx(BUSY_INTERVAL)
    pacer.frame_done(30.0, 0.05, busy=False)  # an expensive frame spaces the next one out
    assert pacer.delay(30.0) > 0.5


def test_input_without_backlog_paints_promptly() -> None:
    pacer = FramePacer()
    pacer.frame_done(1.0, 0.0, busy=True)
    assert pacer.input_sent(b"a", fed=100, backlog=0, now=1.01)
    assert pacer.delay(1.01) <= MIN_INTERVAL


def test_prompt_frame_waits_for_the_backlog_then_for_the_echo() -> None:
    pacer = FramePacer()
    pacer.frame_done(1.0, 0.0, busy=True)
    assert not pacer.input_sent(b"~", fed=1000, backlog=5000, now=1.0)
    assert not pacer.output_fed(b"x" * 4000, fed=5000, now=1.01)  # still backlog
    assert pacer.delay(1.01) > MIN_INTERVAL
    assert pacer.output_fed(b"x" * 2000, fed=7000, now=1.02)  # backlog done: paint
    pacer.frame_done(1.02, 0.0, busy=True)
    assert not pacer.output_fed(b"x" * 100, fed=7100, now=1.05)
    assert pacer.output_fed(b"xx~xx", fed=7105, now=1.06)  # the echo landed later
    assert not pacer.output_fed(b"~", fed=7106, now=1.0 + ECHO_DEADLINE + 0.1)  # too late


def test_non_printable_input_paints_once_after_the_backlog() -> None:
    pacer = FramePacer()
    assert not pacer.input_sent(b"\x1b[A", fed=0, backlog=10, now=1.0)
    assert pacer.output_fed(b"y" * 10, fed=10, now=1.01)
    assert not pacer.output_fed(b"\x1b[A", fed=13, now=1.02)


def test_an_echo_split_across_two_slices_still_paints_promptly() -> None:
    """The pump feeds small slices: an echo may end one and start the next."""
    pacer = FramePacer()
    pacer.frame_done(1.0, 0.0, busy=True)
    assert not pacer.input_sent(b"%07", fed=1000, backlog=100, now=1.0)
    assert pacer.output_fed(b"y" * 100, fed=1100, now=1.01)  # the backlog is done
    pacer.frame_done(1.01, 0.0, busy=True)
    assert not pacer.output_fed(b"y\r\ngot %0", fed=1109, now=1.02)
    assert pacer.output_fed(b"7\r\ny\r\n", fed=1115, now=1.03)
