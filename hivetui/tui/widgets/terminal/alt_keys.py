"""Alt (meta) keys as the operator's terminal sends them: ESC, then the key.

Textual's input parser maps some ESC-prefixed bytes to other keys, which loses them for a
program in the embedded terminal: ``ESC b``/``ESC f`` become ctrl+left/right (iTerm's
natural editing), ``ESC DEL`` becomes ctrl+w, ``ESC 1`` becomes "¡" (WezTerm on macOS),
and ``ESC .``, ``ESC <``, ``ESC >``, ``ESC _`` lose their ESC (alt is only kept for
letters and digits). :class:`AltKeyParser` reads ESC + one key as ``alt+<that key>``
(the names Textual gives alt keys under the kitty protocol), so
:func:`~hivetui.terminal.keys.encode_key` sends ESC + the key again.

``use_alt_key_parser()`` makes Textual's Linux drivers build this parser; the app calls
it before its driver starts. ``ESC [`` and ``ESC O`` still start a sequence, as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual._xterm_parser import XTermParser

ESC = "\x1b"
#: After ESC these start a longer sequence (CSI, SS3) or are ESC itself: not alt keys.
_INTRODUCERS = frozenset("[O" + ESC)


def with_alt(event: events.Key) -> events.Key:
    """``event`` with the alt modifier: ``b`` -> ``alt+b``, ``B`` -> ``alt+shift+b``."""
    name = event.key
    if len(name) == 1 and name.isupper():
        name = f"shift+{name.lower()}"
    return events.Key(f"alt+{name}", event.character)


class AltKeyParser(XTermParser):
    """Textual's parser, except that ESC + one key is always that key with alt."""

    def _sequence_to_key_events(self, sequence: str, alt: bool = False
                                ) -> Iterable[events.Key]:
        if len(sequence) == 2 and sequence[0] == ESC and sequence[1] not in _INTRODUCERS:
            sequence, alt = sequence[1], True
        keys = super()._sequence_to_key_events(sequence)
        if not alt:
            return keys
        return [with_alt(event) for event in keys]


def use_alt_key_parser() -> None:
    """Textual's Linux drivers (full screen and inline) read input with AltKeyParser."""
    from textual.drivers import linux_driver, linux_inline_driver

    linux_driver.XTermParser = AltKeyParser  # type: ignore[attr-defined]
    linux_inline_driver.XTermParser = AltKeyParser  # type: ignore[attr-defined]
