"""The byte stream in front of ``TerminalScreen``: pyte's parser with fast paths.

pyte's ``Stream`` sends every byte of an escape sequence through a generator.
Here plain text, C0 controls and whole simple CSI sequences (``ESC [ [?>] digits;
final``) are dispatched directly; a simple CSI cut by a read boundary is carried to
the next feed; anything else (intermediates, charsets) goes to pyte's FSM.
``CSI > c`` is answered as secondary DA (pyte would take it for primary DA), and a
private sequence for a handler that has no private form is ignored instead of
raising.

Control strings (OSC ``ESC ]``/``0x9d``, DCS ``ESC P``, SOS ``ESC X``, PM ``ESC ^``,
APC ``ESC _``) are taken here as in the DEC/ANSI parser (vt100.net, "A parser for
DEC's ANSI-compatible video terminals"; xterm does the same), not by pyte, whose
OSC state swallows everything up to BEL/ST: ``ESC \\`` (ST), ``0x9c`` and, for OSC
only, BEL end the string; CAN/SUB abort it; any other ESC aborts it and starts a new
escape sequence. Only OSC 0/1/2 (icon name, title) act; the other strings are
dropped instead of drawn. No textual import.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyte

if TYPE_CHECKING:
    from hivetui.tui.widgets.terminal.emulator import TerminalScreen

log = logging.getLogger(__name__)

_CSI = re.compile(r"\x1b\[([?>]?)([0-9;]*)([@-~])")
_CSI_PARTIAL = re.compile(r"\x1b(?:\[[?>]?[0-9;]*)?\Z")
_MAX_CARRY = 64
#: What follows ESC to open a control string: OSC, DCS, SOS, PM, APC.
_STRING_STARTS = frozenset("]PX^_")
#: Where a control string may end (or be cut by a new escape sequence).
_OSC_STOP = re.compile("[\x07\x18\x1a\x1b\x9c]")
_STRING_STOP = re.compile("[\x18\x1a\x1b\x9c]")
_MAX_OSC = 4096  # characters of an OSC kept; a longer one still ends where it should
_DROP_C0 = dict.fromkeys(range(0x20))
#: Handlers that understand ``private=True``; a private CSI for any other one is ignored.
_PRIVATE_OK = frozenset(
    {"set_mode", "reset_mode", "erase_in_display", "erase_in_line", "report_device_status"}
)


class TerminalStream(pyte.ByteStream):
    """A byte stream that dispatches whole simple CSI sequences without the per-char FSM."""

    csi = {
        **pyte.ByteStream.csi,
        "S": "scroll_up",
        "T": "scroll_down",
        "b": "repeat_last_character",
        "s": "save_cursor_sco",
        "u": "restore_cursor_sco",
    }
    events = pyte.ByteStream.events | frozenset(csi.values())

    def __init__(self, screen: TerminalScreen) -> None:
        self._carry = ""
        self.errors = 0
        #: The control string in progress ("]", "P", "X", "^", "_") or None.
        self._string_kind: str | None = None
        self._string_parts: list[str] = []
        self._string_size = 0
        super().__init__(screen)
        self._csi_handlers: dict[str, Callable[..., None]] = {
            final: getattr(screen, name) for final, name in self.csi.items()
        }
        self._private_ok = {final for final, name in self.csi.items() if name in _PRIVATE_OK}
        self._secondary_da = screen.report_secondary_device_attributes
        # C0 controls dispatched directly when no sequence is in progress (as the FSM would).
        self._controls: dict[str, Callable[[], None]] = {
            "\r": screen.carriage_return,
            "\n": screen.linefeed,
            "\x0b": screen.linefeed,
            "\x0c": screen.linefeed,
            "\x08": screen.backspace,
            "\t": screen.tab,
            "\x07": screen.bell,
        }

    def feed(self, data: bytes) -> None:  # type: ignore[override]
        text = self.utf8_decoder.decode(data) if self.use_utf8 else data.decode("latin-1")
        if self._carry:
            text = self._carry + text
            self._carry = ""
        self.feed_text(text)

    def feed_text(self, text: str) -> None:
        listener = self.listener
        if listener is None:
            raise RuntimeError("Listener is not set")
        draw = listener.draw
        match_text = self._text_pattern.match
        match_csi = _CSI.match
        handlers = self._csi_handlers
        controls = self._controls
        ground = self._taking_plain_text
        offset, length = 0, len(text)
        if self._string_kind is not None:
            offset = self._take_string(text, 0)
        while offset < length:
            if ground:
                m = match_text(text, offset)
                if m is not None:
                    end = m.end()
                    draw(text[offset:end])
                    offset = end
                    continue
                control = controls.get(text[offset])
                if control is not None:
                    control()
                    offset += 1
                    continue
                if text[offset] == "\x1b":
                    m = match_csi(text, offset)
                    if m is not None:
                        offset = m.end()
                        self._dispatch_csi(handlers, *m.groups())
                        continue
                    kind = text[offset + 1 : offset + 2]
                    if kind in _STRING_STARTS:
                        offset = self._take_string(text, offset + 2, kind)
                        continue
                    if length - offset <= _MAX_CARRY and _CSI_PARTIAL.match(text, offset):
                        self._carry = text[offset:]
                        break
                elif text[offset] == "\x9d":  # C1 OSC
                    offset = self._take_string(text, offset + 1, "]")
                    continue
                ground = False
            else:
                try:
                    ground = self._send_to_parser(text[offset])
                except Exception as error:  # a malformed sequence must not stop the terminal
                    self._count_error(error)
                    ground = self._taking_plain_text
                offset += 1
        self._taking_plain_text = ground

    def _take_string(self, text: str, offset: int, kind: str | None = None) -> int:
        """Consume a control string from ``offset``; where the text goes on after it.

        ``kind`` opens a new string; without it the one left open by the last read
        goes on. An ESC that ends the text is carried: it may be the start of ST.
        """
        if kind is None:
            kind = self._string_kind
        else:
            self._string_kind = kind
            self._string_parts = []
            self._string_size = 0
        if kind == "]" and self._string_size == 0 and text[offset : offset + 1] in ("R", "P"):
            self._string_kind = None  # Linux palette reset/set: no string (as pyte)
            return offset + 1
        m = (_OSC_STOP if kind == "]" else _STRING_STOP).search(text, offset)
        stop = len(text) if m is None else m.start()
        if stop > offset:
            if kind == "]" and self._string_size < _MAX_OSC:
                self._string_parts.append(text[offset:stop])
            self._string_size += stop - offset
        if m is None:
            return stop
        char = text[stop]
        if char == "\x1b":
            if stop + 1 == len(text):
                self._carry = char
                return stop + 1
            if text[stop + 1] == "\\":
                self._end_string(dispatch=True)
                return stop + 2
            self._end_string(dispatch=False)
            return stop  # the ESC starts the next sequence
        self._end_string(dispatch=char not in "\x18\x1a")  # BEL or C1 ST; CAN/SUB abort
        return stop + 1

    def _end_string(self, *, dispatch: bool) -> None:
        kind, self._string_kind = self._string_kind, None
        parts, self._string_parts = self._string_parts, []
        if not dispatch or kind != "]":
            return
        body = "".join(parts)[:_MAX_OSC].translate(_DROP_C0)  # C0 inside a string is ignored
        command, _, param = body.partition(";")
        screen = self.listener
        assert screen is not None
        if command in ("0", "1"):
            screen.set_icon_name(param)
        if command in ("0", "2"):
            screen.set_title(param)

    def _dispatch_csi(
        self, handlers: dict[str, Callable[..., None]], mark: str, raw: str, final: str
    ) -> None:
        params = [min(int(p or 0), 9999) for p in raw.split(";")]
        try:
            if not mark:
                handler = handlers.get(final)
                if handler is not None:
                    handler(*params)
            elif mark == "?":
                if final in self._private_ok:
                    handlers[final](*params, private=True)
            elif final == "c":  # mark == ">": secondary DA
                self._secondary_da(params[0])
        except Exception as error:  # a program's bad parameters must not stop the terminal
            self._count_error(error)

    def _count_error(self, error: Exception) -> None:
        self.errors += 1
        log.debug("terminal: ignored a sequence the emulator rejected: %r", error)
