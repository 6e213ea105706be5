"""Escape sequences the emulator must handle as xterm and tmux do: bytes in, cells out.

Each test names the sequence; the expected cells are what xterm (and tmux 3.3a, where
they differ the tmux result is noted) shows for the same bytes.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from rich.style import Style

from hivetui.terminal.emulator import Emulator
from hivetui.terminal.palette import XTERM, parse_palette
from hivetui.tui.widgets.terminal.render import LineRenderer


def make(columns: int = 20, lines: int = 5) -> Emulator:
    return Emulator(columns, lines, scrollback=100)


def rows(emulator: Emulator) -> list[str]:
    return [line.rstrip() for line in emulator.display]


def styles_of(emulator: Emulator, y: int = 0) -> list[Style]:
    """The Rich style of each rendered cell of row ``y``."""
    strip = LineRenderer().render(emulator.screen.buffer[y], emulator.screen.columns)
    styles: list[Style] = []
    for segment in strip:
        styles += [segment.style or Style()] * segment.cell_length
    return styles


def rgb(style: Style, *, background: bool = False) -> tuple[int, int, int] | None:
    colour = style.bgcolor if background else style.color
    return None if colour is None else tuple(colour.get_truecolor())  # type: ignore[return-value]


def test_ansi_colours_are_the_xterm_palette_never_the_theme() -> None:
    emu = make(columns=40)
    fg = "".join(f"\x1b[{30 + n}mx" for n in range(8)) + "".join(
        f"\x1b[{90 + n}mx" for n in range(8)
    )
    bg = "".join(f"\x1b[{40 + n}mx" for n in range(8)) + "".join(
        f"\x1b[{100 + n}mx" for n in range(8)
    )
    emu.feed(f"{fg}\x1b[0m\r\n{bg}\x1b[0m\r\n".encode())
    emu.feed("".join(f"\x1b[38;5;{n}mx" for n in range(16)).encode())
    fgs = [rgb(style) for style in styles_of(emu, 0)[:16]]
    bgs = [rgb(style, background=True) for style in styles_of(emu, 1)[:16]]
    indexed = [rgb(style) for style in styles_of(emu, 2)[:16]]
    assert fgs == list(XTERM) == bgs == indexed
    red, bright_red, magenta = fgs[1], fgs[9], fgs[5]
    assert len({red, bright_red, magenta}) == 3 and fgs[4] != fgs[12]
    assert bgs[13] == (0xFF, 0x00, 0xFF)  # bright magenta background: visible


def test_the_palette_is_configurable() -> None:
    mine = parse_palette(" ".join(f"#{n:02x}{n:02x}{n:02x}" for n in range(16)))
    emu = make()
    emu.feed(b"\x1b[31mr\x1b[95mm")
    strip = LineRenderer(palette=mine).render(emu.screen.buffer[0], 20)
    colours = [rgb(segment.style) for segment in strip if segment.style is not None][:2]
    assert colours == [(1, 1, 1), (13, 13, 13)]
    for bad in ("#000000", "#00000g " * 16):
        with pytest.raises(ValueError, match="expected 16 #rrggbb"):
            parse_palette(bad)


def test_dec_special_graphics_g0_and_g1_with_so_si() -> None:
    emu = make()
    emu.feed(b"\x1b(0lqqk+_\x1b(B x\r\n")  # only 0x5f-0x7e change; "_" is a blank
    emu.feed(b"\x1b)0a\x0ex\x0fx\x0e\x1b)Bx\x0f")  # G1 designated, shifted in and out
    assert rows(emu)[:2] == ["┌──┐+\u00a0 x", "a│xx"]


def test_so_without_a_g1_designation_draws_ascii() -> None:
    emu = make()
    emu.feed(b"\x0eqx\x0f")
    assert rows(emu)[0] == "qx"


def test_vs16_and_zwj_emoji_keep_the_rest_of_the_run() -> None:
    emu = make()
    emu.feed("a\u2764\ufe0fb \U0001f468\u200d\U0001f469\u200d\U0001f467c!".encode())
    line = emu.screen.buffer[0]
    assert line[1].data == "\u2764\ufe0f" and line[2].data == "b"  # one cell, as tmux
    assert line[4].data == "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one glyph, two cells
    assert line[5].data == "" and line[6].data == "c" and line[7].data == "!"
    assert emu.screen.cursor.x == 8
    assert rows(emu)[0] == "a\u2764\ufe0fb \U0001f468\u200d\U0001f469\u200d\U0001f467c!"
    strip = LineRenderer().render(line, 20)
    assert strip.cell_length == 20
    assert strip.text.startswith("a\u2764b \U0001f468\u200d\U0001f469\u200d\U0001f467c!")


def test_a_zwj_sequence_cut_by_a_read_still_joins() -> None:
    family = "x\U0001f468\u200d\U0001f469y".encode()
    cut = family.index("\u200d".encode()) + 3
    emu = make()
    emu.feed(family[:cut])
    emu.feed(family[cut:])
    assert rows(emu)[0] == "x\U0001f468\u200d\U0001f469y"


def test_unprintable_characters_do_not_end_the_run() -> None:
    emu = make()
    emu.feed("a\u0085b\u200bc".encode())  # NEL as C1 (a control), then a zero-width space
    assert rows(emu)[:2] == ["a", "b\u200bc"]


def test_a_wide_character_at_the_right_margin_wraps() -> None:
    emu = make(columns=5)
    emu.feed("abcd漢x".encode())
    assert rows(emu)[:2] == ["abcd", "漢x"]
    assert (emu.screen.cursor.x, emu.screen.cursor.y) == (3, 1)


def test_overwriting_half_of_a_wide_character_blanks_the_other_half() -> None:
    emu = make()
    emu.feed("漢字\x08\x08\x08a".encode())  # ASCII over the right half of 漢
    assert rows(emu)[0] == " a字"
    emu.feed("\r漢字\x08\x08b".encode())  # over the left half of 字
    assert rows(emu)[0] == "漢b"
    assert emu.screen.buffer[0][3].data == " "


def test_decscnm_keeps_reverse_video_of_cells() -> None:
    emu = make()
    emu.feed(b"\x1b[7mrev\x1b[0mplain")
    before = [emu.screen.buffer[0][x].reverse for x in range(8)]
    emu.feed(b"\x1b[?5h")
    during = [emu.screen.buffer[0][x].reverse for x in range(8)]
    assert during == [not r for r in before]
    emu.feed(b"\x1b[?5l")
    assert [emu.screen.buffer[0][x].reverse for x in range(8)] == before == [True] * 3 + [False] * 5


def test_nel_is_carriage_return_and_line_feed() -> None:
    emu = make()
    emu.feed(b"abc\x1bEd")
    assert rows(emu)[:2] == ["abc", "d"]


def test_insert_and_delete_characters_leave_no_ghost() -> None:
    emu = make(columns=6)
    emu.feed(b"ABCDEF\x1b[1;1H\x1b[2@")  # insert 2: EF fall off the edge
    assert rows(emu)[0] == "  ABCD"
    emu.feed(b"\x1b[2P")  # delete 2: back, and blanks come in from the right
    assert rows(emu)[0] == "ABCD"
    emu.feed(b"\x1b[1;6H\x1b[@Z\x1b[1;1H\x1b[P")
    assert rows(emu)[0] == "BCD Z"
    assert all(x < 6 for x in emu.screen.buffer[0])


def test_delete_lines_brings_in_blank_lines() -> None:
    emu = make(lines=4)
    emu.feed(b"a\r\nb\r\n\r\nd\x1b[2;1H\x1b[1M")  # the blank line moves up over "b"
    assert rows(emu) == ["a", "", "d", ""]


@pytest.mark.parametrize(
    "sequence",
    [
        b"\x1b[4:3m",
        b"\x1b[=c",
        b"\x1b[<u",
        b"\x1b[>1u",
        b"\x1b[?u",
        b"\x1b[!p",
        b"\x1b[38:2::10:20:30m",
        b"\x1b[38:2:10:20:30m",
        b"\x1b[48:5:200m",
        b"\x1b[58:2::1:2:3m",
        b"\x1b[2 q",
        b"\x1b[1$p",
        b"\x1b[?2026$p",
        b"\x1b[>4;2m",
        b"\x1b[1;2'z",
        b"\x1b#3",
        b"\x1b%G",
        b"\x1b=\x1b>",
    ],
)
def test_unknown_and_extended_sequences_print_nothing(sequence: bytes) -> None:
    emu = make()
    emu.feed(b"[" + sequence + b"]")
    assert rows(emu)[0] == "[]"


def test_colon_colours_and_curly_underline_act() -> None:
    emu = make()
    emu.feed(b"\x1b[38:2::10:20:30;48:5:9;4:3ma\x1b[4:0;38:5:1mb")
    a, b = emu.screen.buffer[0][0], emu.screen.buffer[0][1]
    assert (a.fg, a.bg, a.underscore) == ("0a141e", "brightred", True)
    assert (b.fg, b.underscore) == ("red", False)


def test_decstr_soft_reset_keeps_the_screen() -> None:
    emu = make()
    emu.feed(b"keep\x1b[1;31m\x1b[4h\x1b[?25l\x1b[2;4r\x1b(0\x1b[1;5H\x1b[!p")
    screen = emu.screen
    assert rows(emu)[0] == "keep"
    assert screen.cursor.attrs.fg == "default" and not screen.cursor.attrs.bold
    assert not screen.cursor.hidden and screen.margins is None
    emu.feed(b"q")  # ASCII again, insert mode off
    assert rows(emu)[0] == "keepq"


@pytest.mark.skipif(shutil.which("tput") is None, reason="needs ncurses' tput")
def test_tput_rs2_prints_nothing() -> None:
    rs2 = subprocess.run(
        ["tput", "-T", "xterm-256color", "rs2"], capture_output=True, check=True
    ).stdout
    assert rs2.startswith(b"\x1b[!p")  # DECSTR, whose "p" used to leak
    emu = make()
    emu.feed(b"a" + rs2 + b"b")
    assert "".join(rows(emu)).replace(" ", "") == "b"  # its DECCOLM clears the screen (tmux)


def test_dim_conceal_and_overline_are_drawn() -> None:
    emu = make()
    emu.feed(b"\x1b[2md\x1b[22;8mc\x1b[28;53mo\x1b[55mn")
    d, c, o, n = styles_of(emu)[:4]
    assert d.dim and not c.dim
    assert c.conceal and not o.conceal
    assert o.overline and not n.overline


def test_a_split_csi_and_an_overlong_one_print_nothing() -> None:
    emu = make()
    for byte in b"\x1b[38:2::1:2:3mx":
        emu.feed(bytes([byte]))
    emu.feed(b"\x1b[" + b"1;" * 300)
    emu.feed(b"1my")
    assert rows(emu)[0] == "xy"
    assert emu.screen.buffer[0][0].fg == "010203"


def test_c0_controls_inside_a_csi_act_and_the_csi_completes() -> None:
    emu = make()
    emu.feed(b"abc\x1b[1\x08D!")  # vttest: BS inside CUB
    assert rows(emu)[0] == "a!c"
