"""Key, mouse and paste encoding (xterm conventions)."""

from __future__ import annotations

import time

import pytest
from textual import events
from textual.constants import ESCAPE_DELAY

from hivetui.terminal.keys import (
    MOUSE_LEFT,
    MOUSE_MOTION,
    MOUSE_RIGHT,
    MOUSE_WHEEL_UP,
    encode_key,
    encode_mouse,
    encode_paste,
)
from hivetui.tui.widgets.terminal.alt_keys import AltKeyParser


@pytest.mark.parametrize(
    ("key", "character", "expected"),
    [
        ("a", "a", b"a"),
        ("A", "A", b"A"),
        ("é", "é", "é".encode()),
        ("enter", "\r", b"\r"),
        ("tab", "\t", b"\t"),
        ("shift+tab", None, b"\x1b[Z"),
        ("backspace", "\x7f", b"\x7f"),
        ("escape", "\x1b", b"\x1b"),
        ("ctrl+c", "\x03", b"\x03"),
        ("ctrl+d", None, b"\x04"),
        ("ctrl+right_square_bracket", None, b"\x1d"),
        ("up", None, b"\x1b[A"),
        ("ctrl+left", None, b"\x1b[1;5D"),
        ("shift+up", None, b"\x1b[1;2A"),
        ("ctrl+shift+right", None, b"\x1b[1;6C"),
        ("home", None, b"\x1b[H"),
        ("end", None, b"\x1b[F"),
        ("pageup", None, b"\x1b[5~"),
        ("delete", None, b"\x1b[3~"),
        ("ctrl+delete", None, b"\x1b[3;5~"),
        ("f1", None, b"\x1bOP"),
        ("f5", None, b"\x1b[15~"),
        ("f12", None, b"\x1b[24~"),
        ("shift+f1", None, b"\x1b[1;2P"),
        ("alt+x", None, b"\x1bx"),
        ("alt+shift+b", "B", b"\x1bB"),
        ("alt+ctrl+b", None, b"\x1b\x02"),
        ("alt+full_stop", ".", b"\x1b."),
        ("alt+backspace", "\x7f", b"\x1b\x7f"),
        ("alt+up", None, b"\x1b[1;3A"),
        ("space", " ", b" "),
    ],
)
def test_key_bytes(key: str, character: str | None, expected: bytes) -> None:
    assert encode_key(key, character) == expected


def test_cursor_keys_follow_application_mode() -> None:
    assert encode_key("up", None, app_cursor=True) == b"\x1bOA"
    assert encode_key("left", None, app_cursor=True) == b"\x1bOD"
    assert encode_key("ctrl+up", None, app_cursor=True) == b"\x1b[1;5A"


def test_keys_without_meaning_send_nothing() -> None:
    assert encode_key("ctrl+f24", None) == b""


def test_paste_uses_cr_and_brackets_when_asked() -> None:
    assert encode_paste("a\nb\r\nc", bracketed=False) == b"a\rb\rc"
    assert encode_paste("x\ny", bracketed=True) == b"\x1b[200~x\ry\x1b[201~"
    assert encode_paste("evil\x1b[201~rm", bracketed=True) == b"\x1b[200~evilrm\x1b[201~"


def test_mouse_sgr_and_legacy_reports() -> None:
    assert encode_mouse(MOUSE_LEFT, 4, 2, sgr=True) == b"\x1b[<0;5;3M"
    assert encode_mouse(MOUSE_LEFT, 4, 2, sgr=True, release=True) == b"\x1b[<0;5;3m"
    assert encode_mouse(MOUSE_RIGHT, 0, 0, sgr=True, ctrl=True) == b"\x1b[<18;1;1M"
    assert encode_mouse(MOUSE_WHEEL_UP, 1, 1, sgr=True) == b"\x1b[<64;2;2M"
    assert encode_mouse(MOUSE_LEFT | MOUSE_MOTION, 1, 1, sgr=True) == b"\x1b[<32;2;2M"
    assert encode_mouse(MOUSE_LEFT, 4, 2) == b"\x1b[M" + bytes([32, 37, 35])
    assert encode_mouse(MOUSE_LEFT, 4, 2, release=True) == b"\x1b[M" + bytes([35, 37, 35])
    assert encode_mouse(MOUSE_LEFT, 300, 2) == b""  # legacy encoding cannot say column 301


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (b"\x1b.", b"\x1b."),
        (b"\x1b<", b"\x1b<"),
        (b"\x1b>", b"\x1b>"),
        (b"\x1b_", b"\x1b_"),
        (b"\x1bb", b"\x1bb"),
        (b"\x1bf", b"\x1bf"),
        (b"\x1b\x7f", b"\x1b\x7f"),
        (b"\x1b1", b"\x1b1"),
        (b"\x1b-", b"\x1b-"),
        (b"\x1bB", b"\x1bB"),
        (b"\x1b\x02", b"\x1b\x02"),
        (b"\x1b\r", b"\x1b\r"),
        (b"\x1b[1;5D", b"\x1b[1;5D"),  # a real ctrl+left stays ctrl+left
        (b"\x1b[A", b"\x1b[A"),
        (b"\x7f", b"\x7f"),
        (b".", b"."),
    ],
)
def test_alt_keys_reach_the_program_as_typed(typed: bytes, expected: bytes) -> None:
    """Bytes from the operator's terminal, through the app's input parser, to the program."""
    parser = AltKeyParser()
    keys = [event for event in parser.feed(typed.decode()) if isinstance(event, events.Key)]
    if not keys:  # an unfinished sequence waits this long for more
        time.sleep(ESCAPE_DELAY * 1.5)
        keys = [event for event in parser.tick() if isinstance(event, events.Key)]
    assert b"".join(encode_key(event.key, event.character) for event in keys) == expected


def test_the_app_reads_its_input_with_the_alt_key_parser() -> None:
    from textual.drivers import linux_driver

    from hivetui.tui.app import HiveApp

    HiveApp.get_driver_class(HiveApp.__new__(HiveApp))
    assert linux_driver.XTermParser is AltKeyParser  # type: ignore[attr-defined]
