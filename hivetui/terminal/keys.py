"""What the program reads for a key, a mouse event or a paste (xterm conventions).

Pure functions over Textual's key names; no textual import so they are easy to test.
"""

from __future__ import annotations

import re

_CSI = "\x1b["
_SS3 = "\x1bO"

#: Cursor keys: final byte; with no modifier they follow DECCKM (SS3 in application mode).
_CURSOR = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
#: Keys sent as CSI <n> ~.
_TILDE = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6}
_FUNCTION_TILDE = {
    "f5": 15,
    "f6": 17,
    "f7": 18,
    "f8": 19,
    "f9": 20,
    "f10": 21,
    "f11": 23,
    "f12": 24,
}
_FUNCTION_SS3 = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_SIMPLE = {
    "enter": "\r",
    "return": "\r",
    "tab": "\t",
    "shift+tab": "\x1b[Z",
    "backspace": "\x7f",
    "ctrl+h": "\x08",
    "escape": "\x1b",
    "space": " ",
    "ctrl+space": "\x00",
    "ctrl+@": "\x00",
    "ctrl+at": "\x00",
    "ctrl+backslash": "\x1c",
    "ctrl+right_square_bracket": "\x1d",
    "ctrl+circumflex_accent": "\x1e",
    "ctrl+underscore": "\x1f",
    "ctrl+left_square_bracket": "\x1b",
}
_MODIFIER_BITS = {"shift": 1, "alt": 2, "meta": 2, "ctrl": 4}
_CTRL_LETTER = re.compile(r"^ctrl\+([a-z])$")


def _split(key: str) -> tuple[int, str]:
    """``ctrl+shift+up`` -> (xterm modifier parameter - 1, ``up``)."""
    parts = key.split("+")
    bits = 0
    base = parts[-1]
    for part in parts[:-1]:
        bit = _MODIFIER_BITS.get(part)
        if bit is None:  # not a modifier: a key name with '+' in it
            return 0, key
        bits |= bit
    return bits, base


def encode_key(key: str, character: str | None, *, app_cursor: bool = False) -> bytes:
    """Bytes for a Textual key event; empty when the key means nothing to a terminal."""
    if key in _SIMPLE:
        return _SIMPLE[key].encode()
    match = _CTRL_LETTER.match(key)
    if match:
        return bytes([ord(match.group(1)) & 0x1F])
    bits, base = _split(key)
    mod = f";{bits + 1}" if bits else ""
    if base in _CURSOR:
        final = _CURSOR[base]
        if bits:
            return f"{_CSI}1{mod}{final}".encode()
        return f"{_SS3 if app_cursor else _CSI}{final}".encode()
    if base in _TILDE:
        return f"{_CSI}{_TILDE[base]}{mod}~".encode()
    if base in _FUNCTION_TILDE:
        return f"{_CSI}{_FUNCTION_TILDE[base]}{mod}~".encode()
    if base in _FUNCTION_SS3:
        if bits:
            return f"{_CSI}1{mod}{_FUNCTION_SS3[base]}".encode()
        return f"{_SS3}{_FUNCTION_SS3[base]}".encode()
    if bits & 2:  # alt (meta) + any other key: ESC, then that key as sent without alt
        rest = "+".join(part for part in key.split("+")[:-1] if _MODIFIER_BITS[part] != 2)
        inner = encode_key(f"{rest}+{base}" if rest else base,
                           character if character and len(character) == 1 else None)
        if not inner and len(base) == 1:
            inner = base.encode()
        return b"\x1b" + inner if inner else b""
    if character:
        return character.encode("utf-8", "surrogatepass")
    return b""


def encode_paste(text: str, *, bracketed: bool) -> bytes:
    """Paste text as a terminal sends it: newlines as CR; wrapped when mode 2004 is on."""
    body = text.replace("\r\n", "\r").replace("\n", "\r")
    if bracketed:
        body = body.replace("\x1b[201~", "")  # a paste must not end the bracket early
        return f"\x1b[200~{body}\x1b[201~".encode()
    return body.encode()


#: Button codes of the xterm mouse protocol.
MOUSE_LEFT = 0
MOUSE_MIDDLE = 1
MOUSE_RIGHT = 2
MOUSE_RELEASE = 3
MOUSE_WHEEL_UP = 64
MOUSE_WHEEL_DOWN = 65
MOUSE_MOTION = 32


def encode_mouse(
    button: int,
    x: int,
    y: int,
    *,
    release: bool = False,
    sgr: bool = False,
    shift: bool = False,
    meta: bool = False,
    ctrl: bool = False,
) -> bytes:
    """One mouse report; ``x``/``y`` are 0-based cells, ``button`` an xterm button code.

    SGR (mode 1006) reports ``CSI < b;x;y M`` (``m`` on release); the legacy
    encoding ``CSI M`` + three bytes, which cannot express a column past 222.
    """
    code = button | (4 if shift else 0) | (8 if meta else 0) | (16 if ctrl else 0)
    if sgr:
        return f"\x1b[<{code};{x + 1};{y + 1}{'m' if release else 'M'}".encode()
    if release:
        code = (code & ~3) | MOUSE_RELEASE
    if x > 222 or y > 222:
        return b""
    return b"\x1b[M" + bytes([32 + code, 33 + x, 33 + y])
