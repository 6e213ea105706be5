"""Frame pacing: rate caps and prompt frames for the echo of input (no Textual)."""

from __future__ import annotations

import pytest

from hivetui.terminal.pacing import (
    BUSY_INTERVAL,
    ECHO_DEADLINE,
    HOLD_LIMIT,
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
    assert not pacer.output_fed(b"x" * 2000, fed=7000, now=1.02)  # backlog done, no echo yet
    assert not pacer.output_fed(b"x" * 100, fed=7100, now=1.05)
    assert pacer.output_fed(b"xx~xx", fed=7105, now=1.06)  # the echo landed later
    pacer.frame_done(1.06, 0.0, busy=True)
    assert not pacer.output_fed(b"~", fed=7106, now=1.0 + ECHO_DEADLINE + 0.1)  # too late


def test_frames_hold_until_the_echo_is_fed_for_a_bounded_time() -> None:
    """During a flood a frame costs the app tens of ms: none runs between the input and its
    echo (the backlog is fed at full speed instead), for at most HOLD_LIMIT."""
    pacer = FramePacer()
    assert pacer.holding(1.0) == 0.0
    pacer.input_sent(b"%01", fed=0, backlog=9000, now=1.0)
    assert pacer.holding(1.01) == pytest.approx(HOLD_LIMIT - 0.01)
    pacer.output_fed(b"y\r\n" * 3000, fed=9000, now=1.02)
    assert pacer.holding(1.02) > 0  # the backlog is fed; its echo is not yet
    assert pacer.output_fed(b"y\r\ngot %01", fed=9012, now=1.03)
    assert pacer.holding(1.03) == 0.0 and pacer.delay(1.03) <= MIN_INTERVAL
    pacer.input_sent(b"q", fed=9012, backlog=100, now=2.0)  # a program that never echoes
    assert pacer.holding(2.0 + HOLD_LIMIT) == 0.0
    pacer.input_sent(b"\x03", fed=9012, backlog=100, now=3.0)  # no echo to wait for
    assert pacer.output_fed(b"y" * 100, fed=9112, now=3.01)
    assert pacer.holding(3.01) == 0.0
    assert pacer.input_sent(b"a", fed=9112, backlog=0, now=4.0)  # nothing queued: no hold
    assert pacer.holding(4.0) == 0.0


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
    assert not pacer.output_fed(b"y" * 100, fed=1100, now=1.01)  # the backlog is done
    assert not pacer.output_fed(b"y\r\ngot %0", fed=1109, now=1.02)
    assert pacer.output_fed(b"7\r\ny\r\n", fed=1115, now=1.03)
