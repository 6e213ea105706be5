"""The PTY process and its output pump, with real programs on real PTYs (no Textual)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from hivetui.core.errors import TerminalError
from hivetui.terminal.pty import (
    AppInput,
    ExitStatus,
    OutputPump,
    PtyProcess,
    Yielding,
)


async def collect(process: PtyProcess, **pump_options: float) -> tuple[OutputPump, bytearray]:
    out = bytearray()
    eof = asyncio.Event()
    pump = OutputPump(process.fd, out.extend, eof.set, **pump_options)  # type: ignore[arg-type]
    pump.start()
    await asyncio.wait_for(eof.wait(), timeout=10)
    return pump, out


@pytest.fixture(autouse=True)
def no_app_key() -> Iterator[None]:
    """No key for an app was pressed (functional tests in the same run note theirs)."""
    AppInput.at = float("-inf")
    yield
    AppInput.at = float("-inf")


def reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


async def test_child_sees_the_pty_size_and_its_own_session() -> None:
    script = (
        "import os, sys; "
        "print(os.get_terminal_size(), os.getsid(0) == os.getpid(), os.isatty(0))"
    )
    process = PtyProcess.spawn([sys.executable, "-c", script], rows=33, columns=101)
    _, out = await collect(process)
    status = await process.wait(timeout=5)
    assert status == ExitStatus(code=0, signal=None)
    assert b"columns=101, lines=33" in out
    assert b"True True" in out  # session leader, stdin is the tty
    process.close_fd()


async def test_set_size_reaches_the_child_as_sigwinch() -> None:
    script = (
        "import os, signal, sys\n"
        "def winch(*a):\n"
        "    print('WINCH', os.get_terminal_size(), flush=True)\n"
        "signal.signal(signal.SIGWINCH, winch)\n"
        "print('ready', flush=True)\n"
        "signal.pause()\n"
    )
    process = PtyProcess.spawn([sys.executable, "-c", script], rows=10, columns=40)
    out = bytearray()
    pump = OutputPump(process.fd, out.extend, lambda: None)
    pump.start()
    while b"ready" not in out:
        await asyncio.sleep(0.02)
    process.set_size(50, 132)
    for _ in range(250):
        if b"WINCH" in out:
            break
        await asyncio.sleep(0.02)
    assert b"columns=132, lines=50" in out
    assert process.get_size() == (50, 132)
    pump.stop()
    await process.aclose()


async def test_exit_status_and_signal_are_reported() -> None:
    process = PtyProcess.spawn(["sh", "-c", "exit 7"])
    await collect(process)
    status = await process.wait(timeout=5)
    assert status is not None and status.returncode == 7
    assert status.describe() == "[process exited with status 7]"
    process.close_fd()
    process = PtyProcess.spawn(["sh", "-c", "kill -TERM $$"])
    await collect(process)
    status = await process.wait(timeout=5)
    assert status is not None and status.returncode == -signal.SIGTERM
    assert "SIGTERM" in status.describe()
    process.close_fd()


async def test_aclose_hangs_up_then_kills_and_reaps() -> None:
    process = PtyProcess.spawn(["sh", "-c", "sleep 60"])
    status = await process.aclose()
    assert status.signal == signal.SIGHUP
    assert reaped(process.pid)

    stubborn = PtyProcess.spawn(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
         "print('x', flush=True); time.sleep(60)"]
    )
    await asyncio.sleep(0.3)
    status = await stubborn.aclose(grace=0.3)
    assert status.signal == signal.SIGKILL
    assert reaped(stubborn.pid)


async def test_writes_reach_the_program_in_order() -> None:
    process = PtyProcess.spawn(["sh", "-c", "stty -echo; read a; read b; echo \"got $a $b\""])
    out = bytearray()
    eof = asyncio.Event()
    pump = OutputPump(process.fd, out.extend, eof.set)
    pump.start()
    await asyncio.sleep(0.2)
    process.write(b"one\r")
    process.write(b"two\r")
    await asyncio.wait_for(eof.wait(), timeout=10)
    assert b"got one two" in out
    await process.wait(timeout=5)
    process.close_fd()


async def test_pump_pauses_reading_so_a_flooding_producer_blocks() -> None:
    process = PtyProcess.spawn(["yes", "flood"])
    fed = bytearray()
    pump = OutputPump(
        process.fd,
        fed.extend,
        lambda: None,
        high_water=8192,
        low_water=2048,
        slice_bytes=1024,
        throttled_interval=0.1,
    )
    pump.set_throttled(True)  # a slow consumer: 1 KB per 100 ms
    pump.start()
    await asyncio.sleep(1.0)
    read_after_1s = pump.bytes_read
    await asyncio.sleep(1.0)
    # The reader was removed whenever the buffer was full: we never hold more than the
    # high-water mark (plus one read), and reading goes no faster than feeding.
    assert pump.pauses >= 1
    assert pump.pending <= 8192 + 4096
    assert pump.bytes_read - read_after_1s <= 20 * 1024
    assert pump.bytes_fed <= 25 * 1024
    # `yes` would write megabytes per second if it could: it is blocked in the kernel.
    with open(f"/proc/{process.pid}/stat") as stat:
        assert stat.read().split(") ")[1][0] in "SD"
    pump.stop()
    await process.aclose()


async def test_unthrottled_pump_keeps_up_and_reports_eof() -> None:
    process = PtyProcess.spawn(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x"])
    pump, out = await collect(process)
    assert out.count(b"x") == 300000
    assert pump.bytes_fed == pump.bytes_read == len(out)
    await process.wait(timeout=5)
    process.close_fd()


def test_empty_argv_is_refused() -> None:
    with pytest.raises(TerminalError, match="argv is empty"):
        PtyProcess.spawn([])


def test_missing_program_is_refused_with_its_name() -> None:
    with pytest.raises(TerminalError, match="no-such-program-xyz"):
        PtyProcess.spawn(["no-such-program-xyz"])


async def test_pump_feeds_one_slice_a_turn_sized_to_its_cost() -> None:
    """A costly consumer (a fake clock charges 20 us a byte, as a pure-Python emulator
    scrolling a flood of short lines costs) gets slices of about the 2 ms budget, one per
    turn of the loop, so other ready work waits at most one slice."""
    process = PtyProcess.spawn(["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' y"])
    now = [0.0]
    slices: list[int] = []
    turns: list[int] = []

    def consume(data: bytes) -> None:
        slices.append(len(data))
        now[0] += 20e-6 * len(data)

    eof = asyncio.Event()
    pump = OutputPump(process.fd, consume, eof.set, clock=lambda: now[0],
                      cost_clock=lambda: now[0], max_defer=0.0)
    pump.start()

    async def other_work() -> None:  # one step per loop turn, as the app's messages take
        while not eof.is_set():
            turns.append(len(slices))
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(eof.wait(), other_work()), timeout=20)
    assert sum(slices) == 200000
    assert max(b - a for a, b in itertools.pairwise(turns)) <= 1
    assert max(slices[1:]) <= 0.002 / 20e-6 * 1.01  # the budget's worth, after the first
    await process.wait(timeout=5)
    process.close_fd()


async def test_slices_follow_the_consumers_cpu_time_not_time_spent_off_the_cpu() -> None:
    """On a loaded machine a slice's wall time includes waiting for a CPU (here: a consumer
    that sleeps 5 ms and computes nothing). Sized on wall time, slices shrank to a few
    bytes, all fixed cost; sized on CPU time they stay large."""
    process = PtyProcess.spawn(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' y"])
    slices: list[int] = []

    def descheduled(data: bytes) -> None:
        slices.append(len(data))
        time.sleep(0.005)

    eof = asyncio.Event()
    pump = OutputPump(process.fd, descheduled, eof.set, max_defer=0.0)
    pump.start()
    await asyncio.wait_for(eof.wait(), timeout=30)
    assert sum(slices) == 300000
    assert max(slices) >= 2048 and len(slices) < 300000 / 512  # wall time: 64-byte slices
    await process.wait(timeout=5)
    process.close_fd()


async def test_pump_lets_other_ready_work_go_first_but_never_starves() -> None:
    """While other callbacks are ready the pump waits (up to max_defer), so the app's own
    work is not slowed by a flood; past max_defer it feeds anyway."""
    process = PtyProcess.spawn(["sh", "-c", "head -c 20000 /dev/zero | tr '\\0' y"])
    now = [0.0]
    fed_at: list[int] = []
    turn = [0]
    eof = asyncio.Event()
    pump = OutputPump(process.fd, lambda data: fed_at.append(turn[0]), eof.set,
                      clock=lambda: now[0], max_defer=0.05)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def busy() -> None:  # other work, ready again at every turn, 0.1 ms a turn
        turn[0] += 1
        now[0] += 0.0001
        if not eof.is_set() and turn[0] < 1_000_000:
            loop.call_soon(busy)
        else:
            done.set()

    loop.call_soon(busy)
    pump.start()
    await asyncio.wait_for(done.wait(), timeout=20)
    gaps = [b - a for a, b in itertools.pairwise(fed_at)]
    assert eof.is_set() and len(fed_at) >= 2  # never starved: all of it was fed
    assert min(gaps) >= 0.05 / 0.0001 - 1  # while busy: one slice per max_defer
    assert pump.deferrals > 0
    await process.wait(timeout=5)
    process.close_fd()


def test_yielding_waits_while_other_work_is_ready_up_to_its_limit() -> None:
    """What frames and the pump ask before they run: other ready work (not a pump's own
    step or read) goes first, for at most max_defer seconds in a row."""
    loop = asyncio.new_event_loop()
    now = [0.0]
    yielding = Yielding(lambda: now[0], max_defer=0.05)
    pump = OutputPump(0, lambda data: None, lambda: None)
    try:
        assert not yielding.waits(loop)  # nothing else ready
        loop.call_soon(pump._step)
        assert not yielding.waits(loop)  # only a pump: terminals never wait on each other
        loop.call_soon(print)
        assert yielding.waits(loop)
        now[0] = 0.049
        assert yielding.waits(loop)
        now[0] = 0.05
        assert not yielding.waits(loop)  # waited long enough: go
        assert yielding.waits(loop)  # and the next one waits afresh
    finally:
        loop.close()


def test_yielding_settles_after_a_key_for_the_app() -> None:
    """For ``settle`` seconds after a key meant for the app, terminals wait even with
    nothing ready: the key's screen update is timed, and goes first."""
    loop = asyncio.new_event_loop()
    now = [10.0]
    yielding = Yielding(lambda: now[0], max_defer=0.1, settle=0.1)
    try:
        assert yielding.delay(loop) is None
        AppInput.note(10.0)
        now[0] = 10.03
        assert yielding.delay(loop) == pytest.approx(0.07)
        now[0] = 10.11
        assert yielding.delay(loop) is None
    finally:
        loop.close()


def test_the_settle_after_an_app_key_is_never_cut_short_by_earlier_waiting() -> None:
    """A frame that already waited almost ``max_defer`` for other work, then a key for the
    app: it waits the whole settle (a frame slipped into the key's update before)."""
    loop = asyncio.new_event_loop()
    now = [10.0]
    yielding = Yielding(lambda: now[0], max_defer=0.1, settle=0.1)
    try:
        loop.call_soon(print)  # other work stays ready
        assert yielding.delay(loop) == 0.0
        now[0] = 10.09
        assert yielding.delay(loop) == 0.0
        AppInput.note(10.09)
        now[0] = 10.12  # more than max_defer since the first wait, inside the settle
        assert yielding.delay(loop) == pytest.approx(0.07)
        now[0] = 10.2  # the settle is over; other work is still ready: wait again, bounded
        assert yielding.delay(loop) == 0.0
        now[0] = 10.31
        assert yielding.delay(loop) is None
    finally:
        loop.close()


async def test_a_slow_read_of_the_pty_never_stalls_the_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine ``os.read`` of a PTY waits in the kernel (the tty layer hands
    data over in a worker); here each read of the flood's fd takes 100 ms. The pump reads
    in a thread of its own: the loop's other work keeps turning meanwhile (a read on the
    loop would stall it 100 ms each time), and nothing is lost."""
    process = PtyProcess.spawn(["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' y"])
    real_read = os.read
    reads = []

    def slow_read(fd: int, size: int) -> bytes:
        if fd == process.fd:
            reads.append(size)
            time.sleep(0.1)
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", slow_read)
    out = bytearray()
    eof = asyncio.Event()
    pump = OutputPump(process.fd, out.extend, eof.set)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while not eof.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    pump.start()
    await asyncio.wait_for(asyncio.gather(eof.wait(), ticker()), timeout=30)
    assert out.count(b"y") == 100000
    assert len(reads) >= 6
    assert len([gap for gap in gaps if gap >= 0.1]) <= 2  # scheduling on a loaded machine
    await process.wait(timeout=5)
    process.close_fd()
