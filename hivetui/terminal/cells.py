"""A screen cell and the SGR (``CSI ... m``) rules that set a cell's attributes.

``Cell`` has pyte's ``Char`` fields (``data``, ``fg``, ``bg``, ``bold``, ``italics``,
``underscore``, ``strikethrough``, ``reverse``, ``blink``) plus ``dim``, ``conceal``
and ``overline``. A colour is ``"default"``, one of the 16 ANSI names
(``"red"``, ``"brightred"``, ... with pyte's ``"brown"`` for 3) that the renderer
draws through the terminal's own palette, or ``"rrggbb"``. ``38;5;n`` with n < 16
gives the same ANSI name as ``3x``/``9x``, so both draw alike.

``apply_sgr`` takes the parameters in their ``;`` form (the stream folds ``:``
sub-parameters in) and a flag for DECSCNM: while the screen is reversed a cell's
``reverse`` is stored flipped, so leaving DECSCNM flips it back intact.
No textual or rich import.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pyte.graphics import FG_BG_256


class Cell(NamedTuple):
    data: str
    fg: str = "default"
    bg: str = "default"
    bold: bool = False
    italics: bool = False
    underscore: bool = False
    strikethrough: bool = False
    reverse: bool = False
    blink: bool = False
    dim: bool = False
    conceal: bool = False
    overline: bool = False


BLANK = Cell(" ")
BLANK_REVERSED = Cell(" ", reverse=True)

ANSI_NAMES = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
#: The 16 ANSI colour names in palette order (0-7 normal, 8-15 bright).
PALETTE_NAMES = (*ANSI_NAMES, *(f"bright{name}" for name in ANSI_NAMES))
PALETTE_INDEX = {name: index for index, name in enumerate(PALETTE_NAMES)} | {"yellow": 3}

#: SGR parameter -> (field, value) for the flags.
_FLAGS: dict[int, tuple[tuple[str, bool], ...]] = {
    1: (("bold", True),),
    2: (("dim", True),),
    3: (("italics", True),),
    4: (("underscore", True),),
    5: (("blink", True),),
    6: (("blink", True),),
    8: (("conceal", True),),
    9: (("strikethrough", True),),
    21: (("underscore", True),),
    22: (("bold", False), ("dim", False)),
    23: (("italics", False),),
    24: (("underscore", False),),
    25: (("blink", False),),
    28: (("conceal", False),),
    29: (("strikethrough", False),),
    53: (("overline", True),),
    55: (("overline", False),),
}


def _indexed(n: int) -> str:
    return PALETTE_NAMES[n] if n < 16 else FG_BG_256[n]


def _extended_colour(params: list[int], at: int) -> tuple[str | None, int]:
    """``5;n`` or ``2;r;g;b`` after 38/48/58 at ``at``: the colour (None if bad), next index."""
    kind = params[at] if at < len(params) else None
    if kind == 5 and at + 1 < len(params):
        n = params[at + 1]
        return (_indexed(n) if n < 256 else None), at + 2
    if kind == 2 and at + 3 < len(params):
        r, g, b = params[at + 1 : at + 4]
        if max(r, g, b) < 256:
            return f"{r:02x}{g:02x}{b:02x}", at + 4
        return None, at + 4
    return None, len(params)  # malformed: the rest of the sequence is not trusted


def apply_sgr(attrs: Cell, params: tuple[int, ...], *, screen_reversed: bool) -> Cell:
    """``attrs`` after ``CSI params m``."""
    blank = BLANK_REVERSED if screen_reversed else BLANK
    if not params or params == (0,):
        return blank
    changes: dict[str, Any] = {}
    plist = list(params)
    index = 0
    while index < len(plist):
        param = plist[index]
        index += 1
        if param == 0:
            changes = dict(blank._asdict())
        elif param in _FLAGS:
            changes.update(_FLAGS[param])
        elif param == 7:
            changes["reverse"] = not screen_reversed
        elif param == 27:
            changes["reverse"] = screen_reversed
        elif 30 <= param <= 37:
            changes["fg"] = ANSI_NAMES[param - 30]
        elif 40 <= param <= 47:
            changes["bg"] = ANSI_NAMES[param - 40]
        elif 90 <= param <= 97:
            changes["fg"] = PALETTE_NAMES[param - 82]
        elif 100 <= param <= 107:
            changes["bg"] = PALETTE_NAMES[param - 92]
        elif param == 39:
            changes["fg"] = "default"
        elif param == 49:
            changes["bg"] = "default"
        elif param in (38, 48, 58):
            colour, index = _extended_colour(plist, index)
            if colour is not None and param != 58:  # 58: underline colour, not drawn
                changes["fg" if param == 38 else "bg"] = colour
    changes.pop("data", None)
    return attrs._replace(**changes)


def _dec_special_graphics() -> str:
    """xterm's DEC Special Graphics (``ESC ( 0``): 0x5f-0x7e drawn as line drawing and symbols."""
    table = [chr(code) for code in range(256)]
    glyphs = "\u00a0◆▒␉␌␍␊°±␤␋┘┐┌└┼⎺⎻─⎼⎽├┤┴┬│≤≥π≠£·"  # 0x5f: a blank (no-break space)
    for offset, glyph in enumerate(glyphs):
        table[0x5F + offset] = glyph
    return "".join(table)


#: ``str.translate`` tables for the charsets a program may designate (others are ASCII, as tmux).
ASCII_CHARSET = "".join(chr(code) for code in range(256))
DEC_GRAPHICS_CHARSET = _dec_special_graphics()
