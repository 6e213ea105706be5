"""The pyte subclass on its own: no Textual, bytes in, screen and replies out."""

from __future__ import annotations

import random
import subprocess
import sys

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st

from hivetui.terminal.emulator import (
    PRIMARY_DA_REPLY,
    SECONDARY_DA_REPLY,
    Emulator,
)


def make(columns: int = 20, lines: int = 5, scrollback: int = 100) -> tuple[Emulator, list[str]]:
    replies: list[str] = []
    return Emulator(columns, lines, scrollback=scrollback, reply=replies.append), replies


def rows(emulator: Emulator) -> list[str]:
    return [line.rstrip() for line in emulator.display]


def history(emulator: Emulator) -> list[str]:
    screen = emulator.screen
    width = range(screen.columns)
    return ["".join(line[x].data for x in width).rstrip() for line in screen.scrollback]


def test_importing_the_emulator_does_not_import_textual() -> None:
    code = (
        "import sys, hivetui.terminal.emulator, hivetui.terminal.pty, "
        "hivetui.terminal.keys; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_alternate_screen_1049_restores_the_main_screen_and_cursor() -> None:
    emu, _ = make()
    emu.feed(b"main one\r\nmain two")
    cursor = (emu.screen.cursor.x, emu.screen.cursor.y)
    emu.feed(b"\x1b[?1049h")
    assert emu.screen.in_alt_screen
    assert rows(emu) == [""] * 5
    emu.feed(b"\x1b[1;1Hfull screen app\x1b[5;1Hstatus")
    assert rows(emu)[0] == "full screen app"
    emu.feed(b"\x1b[?1049l")
    assert not emu.screen.in_alt_screen
    assert rows(emu) == ["main one", "main two", "", "", ""]
    assert (emu.screen.cursor.x, emu.screen.cursor.y) == cursor


def test_alternate_screen_47_and_1047_switch_buffers() -> None:
    for mode in (b"47", b"1047"):
        emu, _ = make()
        emu.feed(b"kept")
        emu.feed(b"\x1b[?" + mode + b"h")
        assert emu.screen.in_alt_screen
        emu.feed(b"\x1b[Halt text")
        assert "alt text" in rows(emu)[0]
        emu.feed(b"\x1b[?" + mode + b"l")
        assert rows(emu)[0] == "kept"


def test_1048_saves_and_restores_the_cursor() -> None:
    emu, _ = make()
    emu.feed(b"\x1b[3;4H\x1b[?1048h\x1b[1;1H\x1b[?1048l")
    assert (emu.screen.cursor.y, emu.screen.cursor.x) == (2, 3)


def test_alternate_screen_output_never_reaches_scrollback() -> None:
    emu, _ = make(lines=3)
    emu.feed(b"\x1b[?1049h")
    for n in range(10):
        emu.feed(b"alt %d\r\n" % n)
    emu.feed(b"\x1b[?1049l")
    assert len(emu.screen.scrollback) == 0


def test_leaving_alt_screen_after_a_resize_fits_the_main_screen() -> None:
    emu, _ = make(columns=20, lines=5)
    emu.feed(b"\x1b[5;1Hbottom line that is long")
    emu.feed(b"\x1b[?1049h")
    emu.resize(10, 3)
    emu.feed(b"\x1b[?1049l")
    assert len(emu.display) == 3
    assert all(len(line) == 10 for line in emu.display)
    assert emu.screen.cursor.y < 3


def test_scrollback_keeps_lines_scrolled_off_the_top_in_order() -> None:
    emu, _ = make(lines=3, scrollback=4)
    for n in range(8):
        emu.feed(b"line %d\r\n" % n)
    assert history(emu) == ["line 2", "line 3", "line 4", "line 5"]  # bounded to 4
    assert rows(emu) == ["line 6", "line 7", ""]
    assert emu.screen.scrolled_lines == 6


def test_scroll_region_below_the_top_does_not_feed_scrollback() -> None:
    emu, _ = make(lines=5)
    emu.feed(b"header\x1b[2;5r\x1b[5;1H")
    for n in range(6):
        emu.feed(b"\r\nrow %d" % n)
    assert len(emu.screen.scrollback) == 0
    assert rows(emu)[0] == "header"
    assert rows(emu)[-1] == "row 5"


def test_scroll_region_at_the_top_scrolls_only_inside_the_region() -> None:
    emu, _ = make(lines=5)
    emu.feed(b"\x1b[5;1Hfooter\x1b[1;4r\x1b[4;1H")
    for n in range(5):
        emu.feed(b"\r\nline %d" % n)
    assert rows(emu)[4] == "footer"
    assert rows(emu)[3] == "line 4"


def test_erase_saved_lines_clears_only_scrollback() -> None:
    emu, _ = make(lines=2)
    emu.feed(b"a\r\nb\r\nc")
    assert len(emu.screen.scrollback) == 1
    emu.feed(b"\x1b[3J")
    assert len(emu.screen.scrollback) == 0
    assert rows(emu) == ["b", "c"]


def test_shrinking_keeps_the_cursor_line_and_moves_lines_above_to_scrollback() -> None:
    emu, _ = make(lines=5)
    emu.feed(b"1\r\n2\r\n3\r\n4\r\n$ ")
    emu.resize(20, 2)
    assert rows(emu) == ["4", "$"]
    assert history(emu) == ["1", "2", "3"]
    assert emu.screen.cursor.y == 1


def test_device_attribute_replies() -> None:
    emu, replies = make()
    emu.feed(b"\x1b[c")
    emu.feed(b"\x1b[0c")
    emu.feed(b"\x1b[>c")
    assert replies == [PRIMARY_DA_REPLY, PRIMARY_DA_REPLY, SECONDARY_DA_REPLY]


def test_device_status_replies() -> None:
    emu, replies = make()
    emu.feed(b"\x1b[5n\x1b[3;7H\x1b[6n\x1b[?6n")
    assert replies == ["\x1b[0n", "\x1b[3;7R", "\x1b[?3;7R"]


def test_replies_survive_a_query_split_across_reads() -> None:
    emu, replies = make()
    for byte in b"\x1b[>c\x1b[6n":
        emu.feed(bytes([byte]))
    assert replies == [SECONDARY_DA_REPLY, "\x1b[1;1R"]


def test_mode_flags_for_the_widget() -> None:
    emu, _ = make()
    screen = emu.screen
    assert screen.mouse_tracking == 0
    emu.feed(b"\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b[?1h\x1b[?1004h")
    assert screen.mouse_tracking == 1000
    assert screen.mouse_sgr and screen.bracketed_paste and screen.app_cursor_keys
    assert screen.focus_events
    emu.feed(b"\x1b[?1002h")
    assert screen.mouse_tracking == 1002
    emu.feed(b"\x1b[?1002l\x1b[?1000l\x1b[?2004l\x1b[?1l")
    assert screen.mouse_tracking == 0
    assert not screen.bracketed_paste and not screen.app_cursor_keys


def test_colours_and_attributes_reach_the_cells() -> None:
    emu, _ = make()
    emu.feed(b"\x1b[1;31mA\x1b[0;38;5;196mB\x1b[38;2;1;2;3;48;5;21mC\x1b[0;4;7mD\x1b[0mE")
    a, b, c, d, e = (emu.screen.buffer[0][x] for x in range(5))
    assert (a.data, a.fg, a.bold) == ("A", "red", True)
    assert (b.fg, b.bold) == ("ff0000", False)
    assert (c.fg, c.bg) == ("010203", "0000ff")
    assert d.underscore and d.reverse
    assert (e.fg, e.underscore, e.reverse) == ("default", False, False)


def test_scroll_up_down_and_repeat() -> None:
    emu, _ = make(lines=3)
    emu.feed(b"a\r\nb\r\nc\x1b[1S")
    assert rows(emu) == ["b", "c", ""]
    emu.feed(b"\x1b[2T")
    assert rows(emu) == ["", "", "b"]
    emu.feed(b"\x1b[1;1Hx\x1b[4b")
    assert rows(emu)[0] == "xxxxx"


def test_wide_characters_take_two_cells() -> None:
    emu, _ = make()
    emu.feed("漢字ok".encode())
    assert rows(emu)[0] == "漢字ok"
    assert emu.screen.cursor.x == 6


def _mixed_stream(seed: int, size: int) -> bytes:
    rnd = random.Random(seed)
    pieces = []
    total = 0
    while total < size:
        piece = rnd.choice(
            [
                f"\x1b[{rnd.choice([0, 1, 4, 7, 31, 42, 93])}m",
                f"\x1b[38;5;{rnd.randrange(256)}m",
                f"\x1b[48;2;{rnd.randrange(256)};7;9m",
                f"\x1b[{rnd.randrange(1, 12)};{rnd.randrange(1, 40)}H",
                "\x1b[K",
                "\x1b[2A",
                "\r\n",
                "word " * rnd.randrange(1, 12),
                "é漢",
                "".join(
                    f"{'w' * rnd.randrange(60)}\x1b[3{n % 8}m{n}\x1b[0m\r\n"
                    for n in range(rnd.randrange(2, 30))
                ),
            ]
        )
        pieces.append(piece)
        total += len(piece)
    return "".join(pieces).encode()


def test_fast_paths_match_plain_pyte_and_byte_by_byte_whatever_the_read_sizes() -> None:
    """Runs of text and whole lines (the bulk path) give what one byte at a time gives.

    On this stream pyte is right, so pyte's cells (its fields) are the reference too.
    """
    data = _mixed_stream(3, 60_000)
    reference = pyte.Screen(40, 10)
    pyte.ByteStream(reference).feed(data)
    slow, _ = make(columns=40, lines=10, scrollback=50)
    for byte in data:
        slow.feed(bytes([byte]))
    rnd = random.Random(5)
    emu, _ = make(columns=40, lines=10, scrollback=50)
    offset = 0
    while offset < len(data):
        step = rnd.choice([1, 2, 3, 7, 64, 4096, 30_000])
        emu.feed(data[offset : offset + step])
        offset += step
    for y in range(10):
        for x in range(40):
            cell = emu.screen.buffer[y][x]
            assert cell == slow.screen.buffer[y][x], (x, y)
            assert tuple(cell[:9]) == tuple(reference.buffer[y][x]), (x, y)
    assert (emu.screen.cursor.x, emu.screen.cursor.y) == (reference.cursor.x, reference.cursor.y)
    assert history(emu) == history(slow)
    assert emu.screen.scrolled_lines == slow.screen.scrolled_lines


def test_malformed_sequences_are_ignored_not_raised() -> None:
    emu, _ = make()
    emu.feed(b"\x1b[?5;6H\x1b[?1m\x1b[>4;2m\x1b[2 q\x1b]0;title\x07\x1b[?9999999999hok")
    assert rows(emu)[0].endswith("ok")
    assert emu.screen.title == "title"
    assert not emu.screen.cursor.attrs.underscore  # `CSI > 4;2 m` is not SGR underline


RECOVERY = b"\x1b[0m\x1b[?1049l\r\nalive"


def test_an_unterminated_osc_does_not_swallow_the_next_escape_sequence() -> None:
    emu, _ = make(columns=12, lines=4)
    emu.feed(b"\x1b]")
    emu.feed(RECOVERY)
    assert "alive" in "\n".join(rows(emu))
    emu.feed(b"\x1b]0;stray text\x1b[1mbold")  # same when both come in one read
    assert rows(emu)[1] == "alivebold"
    assert emu.screen.cursor.attrs.bold
    assert emu.screen.title == ""  # an OSC cut off by another sequence does nothing


def test_osc_title_ended_by_bel_or_st_in_any_read_sizes() -> None:
    emu, _ = make()
    emu.feed(b"\x1b]0;ti")
    emu.feed(b"\x1b\\")
    assert (emu.screen.title, emu.screen.icon_name) == ("ti", "ti")
    emu.feed(b"\x1b]2;sp")
    emu.feed(b"lit\x1b")  # ST cut between its two bytes
    assert emu.screen.title == "ti"
    emu.feed(b"\\after")
    assert emu.screen.title == "split"
    assert rows(emu)[0] == "after"
    emu.feed(b"\x1b]1;icon only\x07")
    assert (emu.screen.title, emu.screen.icon_name) == ("split", "icon only")
    for byte in "\x1b]0;caf\u00e9 \u6f22\x1b\\!".encode():
        emu.feed(bytes([byte]))
    assert emu.screen.title == "caf\u00e9 \u6f22"
    assert rows(emu)[0] == "after!"


def test_can_and_sub_abort_an_osc() -> None:
    for abort in (b"\x18", b"\x1a"):
        emu, _ = make()
        emu.feed(b"\x1b]0;never" + abort + b"shown\x07")
        assert emu.screen.title == ""
        assert rows(emu)[0] == "shown"


def test_dcs_pm_apc_sos_strings_are_dropped_not_drawn() -> None:
    emu, _ = make()
    emu.feed(b"a\x1bP+q544e\x1b\\b\x1b_apc\x1b\\c\x1b^pm\x1b\\d\x1bXsos\x1b\\e")
    emu.feed(b"\x1bP1$r0m\x1b[1mf")  # a DCS cut off by CSI: the CSI still acts
    assert rows(emu)[0] == "abcdef"
    assert emu.screen.cursor.attrs.bold


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_break_the_emulator(data: bytes) -> None:
    emu, _ = make(columns=12, lines=4)
    emu.feed(data)
    emu.feed(b"\x1b[0m\x1b[?1049l\r\nalive")
    assert "alive" in "\n".join(rows(emu))
