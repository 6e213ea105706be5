"""The terminal's own 16-colour palette: what ANSI colours 0-15 look like.

``XTERM`` is xterm's default palette (its ``XTerm`` resources). ``parse_palette``
reads a user's palette: 16 ``#rrggbb`` colours separated by commas or spaces.
No textual or rich import.
"""

from __future__ import annotations

import re

Rgb = tuple[int, int, int]

XTERM: tuple[Rgb, ...] = (
    (0x00, 0x00, 0x00),
    (0xCD, 0x00, 0x00),
    (0x00, 0xCD, 0x00),
    (0xCD, 0xCD, 0x00),
    (0x00, 0x00, 0xEE),
    (0xCD, 0x00, 0xCD),
    (0x00, 0xCD, 0xCD),
    (0xE5, 0xE5, 0xE5),
    (0x7F, 0x7F, 0x7F),
    (0xFF, 0x00, 0x00),
    (0x00, 0xFF, 0x00),
    (0xFF, 0xFF, 0x00),
    (0x5C, 0x5C, 0xFF),
    (0xFF, 0x00, 0xFF),
    (0x00, 0xFF, 0xFF),
    (0xFF, 0xFF, 0xFF),
)

_COLOUR = re.compile(r"#([0-9a-fA-F]{6})\Z")


#: The rule ``parse_palette`` states when it refuses a palette.
PALETTE_RULE = ("16 #rrggbb colours separated by commas or spaces (black, red, green, yellow, "
                "blue, magenta, cyan, white, then the bright ones)")


def parse_palette(text: str) -> tuple[Rgb, ...]:
    """16 ``#rrggbb`` colours (comma or space separated); ``ValueError`` naming the rule."""
    items = [item for item in re.split(r"[\s,]+", text.strip()) if item]
    if len(items) != 16:
        raise ValueError(f"got {len(items)} colours; expected {PALETTE_RULE}")
    colours = []
    for item in items:
        m = _COLOUR.match(item)
        if m is None:
            raise ValueError(f"{item[:20]!r} is not a #rrggbb colour; expected {PALETTE_RULE}")
        value = int(m.group(1), 16)
        colours.append((value >> 16, (value >> 8) & 0xFF, value & 0xFF))
    return tuple(colours)
