"""Agent-provided text made safe to put on an operator's terminal: shown, never interpreted.

Every string an agent (the manager included) can influence -- message bodies, status
details, questions, log lines, config diffs, model and runtime names -- passes through
:func:`visible` (or :func:`visible_line`) before a TUI widget or ``hivetui ctl`` shows it.

Contract of the result:

- no C0 control (U+0000-U+001F) but ``\\n`` (:func:`visible` only), and no DEL: each is
  replaced by its Unicode control picture (ESC -> ``␛``, CR -> ``␍``, NUL -> ``␀``,
  DEL -> ``␡``), one cell wide like a letter, so columns still line up; tabs become spaces
  (to the next multiple of 4);
- no C1 control (U+0080-U+009F): each is spelled out as its escape, e.g. ``\\x9b`` (a
  terminal in UTF-8 mode may take U+009B for CSI);
- no bidirectional override or isolate (U+202A-U+202E, U+2066-U+2069), which would make a
  terminal reorder what follows: spelled out, e.g. ``\\u202e``;
- no lone surrogate (it cannot be encoded for the terminal): ``\\ufffd`` (replacement
  character).

So no escape sequence (CSI, OSC, DCS, …) ever reaches the terminal: its introducer is
always one of the characters above. :func:`json_visible` gives ``--json`` output the same
guarantee while staying valid JSON. Pure functions, no UI import: the core, ``ctl`` and the
TUI all use them.
"""

from __future__ import annotations

_PICTURES: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20)}
_PICTURES[0x7F] = "\u2421"
del _PICTURES[0x09]  # tabs are expanded instead
_SPELLED: dict[int, str] = {c: f"\\x{c:02x}" for c in range(0x80, 0xA0)}
_SPELLED |= {c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_SURROGATES: dict[int, str] = dict.fromkeys(range(0xD800, 0xE000), "\ufffd")

_MULTI_LINE = {**_PICTURES, **_SPELLED, **_SURROGATES}
del _MULTI_LINE[0x0A]
_ONE_LINE = {**_PICTURES, **_SPELLED, **_SURROGATES}
# JSON already escapes C0; what it leaves raw (C1, DEL, bidi, surrogates) gets a \u escape
_JSON = {c: f"\\u{c:04x}" for c in (0x7F, *_SPELLED, *_SURROGATES)}

TAB_SIZE = 4


def visible(text: str) -> str:
    """``text`` with every control shown (see the module contract); newlines kept."""
    shown = text.translate(_MULTI_LINE)
    return shown.expandtabs(TAB_SIZE) if "\t" in shown else shown


def visible_line(text: str) -> str:
    """Like :func:`visible`, newlines shown too (``␊``): for one-line places (a table cell,
    a status), where a newline from an agent would forge a line of its own."""
    shown = text.translate(_ONE_LINE)
    return shown.expandtabs(TAB_SIZE) if "\t" in shown else shown


def json_visible(dumped: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with the characters JSON leaves
    raw but a terminal may act on escaped as ``\\uXXXX``: still the same JSON value."""
    return dumped.translate(_JSON)
