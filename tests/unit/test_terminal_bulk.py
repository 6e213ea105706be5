"""The bulk path for whole lines: same result as one byte at a time, work bounded by what stays."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivetui.terminal import lines as lines_module
from hivetui.terminal.emulator import Emulator, TerminalScreen
from hivetui.terminal.lines import PendingRow


def coloured_lines(count: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    out = []
    for n in range(count):
        width = rnd.choice([0, 3, 20, 39, 40, 41, 95])
        text = "".join(rnd.choice("abc xyzé─→≤") for _ in range(width))
        colour = rnd.choice(["\x1b[31m", "\x1b[1;42m", "\x1b[0m", "\x1b[38;5;200m", "", "\x1b[7m"])
        cut = rnd.randrange(width + 1)
        out.append(f"{n}:{text[:cut]}{colour}{text[cut:]}\r\n")
    return "".join(out).encode()


def snapshot(emulator: Emulator) -> tuple[object, ...]:
    screen = emulator.screen
    columns = range(screen.columns)
    cells = [tuple(screen.buffer[y][x] for x in columns) for y in range(screen.lines)]
    history = [tuple(line[x] for x in columns) for line in screen.scrollback]
    cursor = (screen.cursor.x, screen.cursor.y, screen.cursor.attrs)
    return cells, history, cursor, screen.scrolled_lines


@pytest.mark.parametrize("scrollback", [0, 30, 5000])
def test_one_read_of_many_lines_equals_one_byte_at_a_time(scrollback: int) -> None:
    data = b"start\x1b[33m" + coloured_lines(400) + b"tail"
    whole = Emulator(40, 10, scrollback=scrollback)
    whole.feed(data)
    slow = Emulator(40, 10, scrollback=scrollback)
    for byte in data:
        slow.feed(bytes([byte]))
    assert snapshot(whole) == snapshot(slow)


def test_plain_lines_and_lines_over_old_content_below_the_cursor() -> None:
    data = b"\x1b[2J" + b"".join(b"old line %d\r\n" % n for n in range(8)) + b"\x1b[3;1H"
    data += b"".join(b"y\r\n" for _ in range(4)) + b"".join(b"n%d\r\n" % n for n in range(30))
    whole = Emulator(12, 8, scrollback=20)
    whole.feed(data)
    slow = Emulator(12, 8, scrollback=20)
    for byte in data:
        slow.feed(bytes([byte]))
    assert snapshot(whole) == snapshot(slow)


def test_a_flood_builds_only_the_rows_someone_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scrolling 20,000 lines builds no row until read: the cost does not grow per cell."""
    built = []
    original = lines_module.RowBuilder.cells

    def counting(self: lines_module.RowBuilder, row: lines_module.RowRef) -> list:
        built.append(row)
        return original(self, row)

    monkeypatch.setattr(lines_module.RowBuilder, "cells", counting)
    emulator = Emulator(80, 24, scrollback=1000)
    data = b"".join(b"\x1b[32mline\x1b[0m %d\r\n" % n for n in range(20_000))
    for offset in range(0, len(data), 4096):
        emulator.feed(data[offset : offset + 4096])
    reads = len(data) // 4096 + 1
    assert len(built) <= 2 * reads  # about one per read: the row the cursor is on
    assert emulator.screen.scrolled_lines == 20_000 - 23
    assert len(emulator.screen.scrollback) == 1000
    shown = [emulator.screen.buffer[y][0].data for y in range(24)]  # reading builds them now
    assert len(built) <= 2 * reads + 24
    assert "".join(shown[:2]) == "ll" and emulator.screen.buffer[22][5].data == "1"
    assert emulator.screen.buffer[22][0].fg == "green"


def test_a_pending_row_written_before_it_is_read_keeps_both() -> None:
    emulator = Emulator(10, 3, scrollback=10)
    emulator.feed(b"aaaa\r\nbbbb\r\ncccc\r\ndddd\r\n")
    row = emulator.screen.buffer[1]
    assert isinstance(row, PendingRow)
    emulator.feed(b"\x1b[2;2HX")
    assert "".join(emulator.screen.buffer[1][x].data for x in range(4)) == "dXdd"


def test_rep_after_a_run_repeats_the_last_character_drawn() -> None:
    emulator = Emulator(10, 4, scrollback=10)
    emulator.feed(b"one\r\ntw\x1b[1mo\x1b[0m\r\n\r\n\r\n\x1b[3b")
    assert emulator.display[-1].rstrip() == "ooo"


_PIECES = st.sampled_from(
    [
        b"a",
        b"yz ",
        b"\r\n",
        b"\n",
        b"\r",
        b"\x1b[31m",
        b"\x1b[0m",
        b"\x1b[",
        b"1;2",
        b"m",
        b"H",
        b"\x1b]0;t\x07",
        b"\x1b(0",
        b"\x0e",
        b"\x0f",
        b"\x1bE",
        b"\x1b[2@",
        b"\x1b[P",
        b"\x1b[?5h",
        b"\x1b[?5l",
        b"\xe6\xbc\xa2",
        b"\xe2\x9d\xa4\xef\xb8\x8f",
        b"\x1b[4:3m",
        b"\x1b[!p",
        b"\t",
        b"\xe2\x80\x8d",
        b"\x08",
        b"\xcc\x81",
        b"\x1b[2;3r",
        b"\x1b[1;3r",
        b"\x1b[r",
        b"\x1b[4H",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, max_size=60), st.integers(min_value=0, max_value=400))
def test_where_a_read_ends_never_changes_the_screen(pieces: list[bytes], cut: int) -> None:
    data = b"".join(pieces)
    whole = Emulator(8, 4, scrollback=6)
    whole.feed(data)
    split = Emulator(8, 4, scrollback=6)
    split.feed(data[:cut])
    split.feed(data[cut:])
    assert snapshot(whole) == snapshot(split)


@pytest.mark.parametrize(("region", "scrollback"), [(b"1;9", 30), (b"3;7", 30), (b"1;10", 0)])
def test_lines_in_a_scrolling_region_equal_one_byte_at_a_time(region: bytes,
                                                              scrollback: int) -> None:
    """The rows below and above the region stay; only a region from the top row keeps history."""
    data = b"".join(b"fixed %d\r\n" % n for n in range(10)) + b"\x1b[10;1Hstatus line"
    data += b"\x1b[" + region + b"r\x1b[4;1H\x1b[33m" + coloured_lines(300) + b"tail"
    whole = Emulator(40, 10, scrollback=scrollback)
    whole.feed(data)
    slow = Emulator(40, 10, scrollback=scrollback)
    for byte in data:
        slow.feed(bytes([byte]))
    assert snapshot(whole) == snapshot(slow)


def test_a_flood_in_a_scrolling_region_scrolls_once_per_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood under a fixed status row (a region of all rows but the last) takes the bulk
    path: the region scrolls about once per read, not once per line."""
    scrolls = []
    original = TerminalScreen._scroll_up

    def counting(self: TerminalScreen, top: int, bottom: int) -> None:
        scrolls.append(top)
        original(self, top, bottom)

    monkeypatch.setattr(TerminalScreen, "_scroll_up", counting)
    emulator = Emulator(80, 24, scrollback=1000)
    emulator.feed(b"\x1b[1;23r\x1b[24;1Hgot keys\x1b[1;1H")
    data = b"y\r\n" * 20_000
    for offset in range(0, len(data), 4096):
        emulator.feed(data[offset : offset + 4096])
    reads = len(data) // 4096 + 1
    assert len(scrolls) <= 2 * reads
    assert emulator.screen.scrolled_lines == 20_000 - 22
    assert emulator.display[23].rstrip() == "got keys"
    assert emulator.display[21].rstrip() == "y" and emulator.display[22].rstrip() == ""
    emulator.screen.dirty.clear()
    emulator.feed(b"\x1b7\x1b[24;1H\x1b[2Kgot more\x1b8" + data[:4096])
    assert 23 in emulator.screen.dirty  # the status row changed; the region's scroll keeps it
    assert emulator.display[23].rstrip() == "got more"
