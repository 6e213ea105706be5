"""The byte stream in front of ``TerminalScreen``: a DEC/ANSI parser built on regexes.

The parser follows the DEC/ANSI state machine (vt100.net, "A parser for DEC's
ANSI-compatible video terminals"; xterm does the same) but takes whole tokens at
a time: a run of plain text, one C0/C1 control, one whole escape sequence. Every
form is consumed whole, so an unknown sequence never leaks onto the screen:

* CSI ``ESC [`` / ``0x9b``: an optional private marker (``< = > ?``), parameters
  with ``;`` and ``:`` (sub-parameters, as in ``38:2::r:g:b`` or ``4:3``), any
  intermediates, a final byte. C0 controls inside it act as they arrive; CAN/SUB
  abort it; ESC aborts it and starts a new sequence. Only known forms act.
* ``ESC`` + intermediates + final: charsets (``ESC ( 0``, ``ESC ) B``), NEL,
  IND, RI, HTS, DECSC/DECRC, RIS, DECALN; the rest is ignored.
* SO/SI select G1/G0 (DEC line drawing works in UTF-8 too).
* Control strings (OSC ``ESC ]``/``0x9d``, DCS ``ESC P``/``0x90``, SOS ``ESC X``,
  PM ``ESC ^``, APC ``ESC _``): ``ESC \\`` (ST), ``0x9c`` and, for OSC only, BEL
  end the string; CAN/SUB abort it; any other ESC aborts it and starts a new
  escape sequence. Only OSC 0/1/2 (icon name, title) act.

A sequence cut by a read boundary is carried to the next feed; one longer than
``_MAX_CARRY`` is skipped up to its final byte. Runs of plain lines are handed to
``TerminalScreen.draw_lines`` whole (the bulk path). No textual import.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hivetui.terminal.emulator import TerminalScreen

log = logging.getLogger(__name__)

#: Plain text: anything but C0, DEL and C1 controls.
_TEXT = re.compile("[^\x00-\x1f\x7f-\x9f]+")
#: Characters one cell wide that never join another (ASCII, Latin, punctuation, arrows,
#: maths, box drawing, shapes): a line of them has as many cells as characters.
_NARROW = (
    "\x20-\x7e\u00a0-\u00ac\u00ae-\u024f\u2010-\u2027\u2030-\u205e\u2190-\u22ff\u2500-\u25fc\u25ff"
)
#: Two or more lines of them ended by CR LF, with SGR sequences inside (the bulk path).
_LINES = re.compile(rf"(?:(?:[{_NARROW}]++|\x1b\[[0-9;]*+m)*+\r\n){{2,}}+")
_CSI = re.compile(r"(?:\x1b\[|\x9b)([0-?]*)([ -/]*)([@-~])")
_SGR = re.compile(r"(?:\x1b\[|\x9b)([0-9;]*)m")
#: Where a CSI ends (final byte) or is cut (CAN, SUB, ESC).
_CSI_END = re.compile("[@-~\x18\x1a\x1b]")
_CSI_BODY = re.compile(r"([0-?]*)([ -/]*)\Z")
_ESC = re.compile(r"\x1b([ -/]*)([0-~])")
_ESC_PARTIAL = re.compile(r"\x1b[ -/]*\Z")
_PARAMS = re.compile(r"([<=>?]?)([0-9:;]*)\Z")
_MAX_CARRY = 256
_ZWJ = "\u200d"
_MAX_PARAM = 9999
#: What follows ESC to open a control string: OSC, DCS, SOS, PM, APC.
_STRING_STARTS = frozenset("]PX^_")
#: C1 controls as their 7-bit ``ESC`` + final equivalents.
_C1_ESCAPES = {"\x84": "D", "\x85": "E", "\x88": "H", "\x8d": "M"}
_C1_STRINGS = {"\x90": "P", "\x98": "X", "\x9d": "]", "\x9e": "^", "\x9f": "_"}
#: Where a control string may end (or be cut by a new escape sequence).
_OSC_STOP = re.compile("[\x07\x18\x1a\x1b\x9c]")
_STRING_STOP = re.compile("[\x18\x1a\x1b\x9c]")
_MAX_OSC = 4096  # characters of an OSC kept; a longer one still ends where it should
_DROP_C0 = dict.fromkeys(range(0x20))

#: ``CSI`` final byte -> screen method, for sequences with no marker or intermediates.
CSI_HANDLERS = {
    "@": "insert_characters",
    "A": "cursor_up",
    "B": "cursor_down",
    "C": "cursor_forward",
    "D": "cursor_back",
    "E": "cursor_down1",
    "F": "cursor_up1",
    "G": "cursor_to_column",
    "H": "cursor_position",
    "J": "erase_in_display",
    "K": "erase_in_line",
    "L": "insert_lines",
    "M": "delete_lines",
    "P": "delete_characters",
    "S": "scroll_up",
    "T": "scroll_down",
    "X": "erase_characters",
    "Z": "cursor_back_tab",
    "`": "cursor_to_column",
    "a": "cursor_forward",
    "b": "repeat_last_character",
    "c": "report_device_attributes",
    "d": "cursor_to_line",
    "e": "cursor_down",
    "f": "cursor_position",
    "g": "clear_tab_stop",
    "h": "set_mode",
    "l": "reset_mode",
    "n": "report_device_status",
    "r": "set_margins",
    "s": "save_cursor_sco",
    "u": "restore_cursor_sco",
}
#: ``CSI ?`` forms: the handler is called with ``private=True``.
_PRIVATE_FINALS = frozenset("hlJKn")
#: ``ESC`` + final (no intermediates) -> screen method.
ESC_HANDLERS = {
    "7": "save_cursor",
    "8": "restore_cursor",
    "D": "index",
    "E": "next_line",
    "H": "set_tab_stop",
    "M": "reverse_index",
    "c": "reset",
}


class TerminalStream:
    """Bytes (UTF-8) in, screen method calls out."""

    def __init__(self, screen: TerminalScreen) -> None:
        self.listener = screen
        self.errors = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._carry = ""
        #: Skipping an overlong CSI up to its final byte.
        self._skipping_csi = False
        #: The control string in progress ("]", "P", "X", "^", "_") or None.
        self._string_kind: str | None = None
        self._string_parts: list[str] = []
        self._string_size = 0
        self._csi: dict[str, Callable[..., None]] = {
            final: getattr(screen, name) for final, name in CSI_HANDLERS.items()
        }
        self._esc: dict[str, Callable[[], None]] = {
            final: getattr(screen, name) for final, name in ESC_HANDLERS.items()
        }
        self._controls: dict[str, Callable[[], None]] = {
            "\r": screen.carriage_return,
            "\n": screen.linefeed,
            "\x0b": screen.linefeed,
            "\x0c": screen.linefeed,
            "\x08": screen.backspace,
            "\t": screen.tab,
            "\x07": screen.bell,
            "\x0e": screen.shift_out,
            "\x0f": screen.shift_in,
        }

    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if self._carry:
            text = self._carry + text
            self._carry = ""
        # What follows a ZWJ joins the cell before it: keep a trailing ZWJ for the next read.
        joined = text.rstrip(_ZWJ)
        held = text[len(joined) :]
        if held and len(held) <= _MAX_CARRY:
            text = joined
        else:
            held = ""
        self.feed_text(text)
        self._carry += held

    def feed_text(self, text: str) -> None:
        offset, length = 0, len(text)
        if self._skipping_csi:
            offset = self._skip_csi(text, 0)
        if self._string_kind is not None and offset < length:
            offset = self._take_string(text, offset)
        screen = self.listener
        draw = screen.draw
        match_text = _TEXT.match
        match_lines = _LINES.match
        controls = self._controls
        while offset < length:
            char = text[offset]
            if char == "\r" and screen.bulk_ready():
                m = match_lines(text, offset + 2) if text.startswith("\r\n", offset) else None
                if m is not None:
                    controls["\r"]()
                    controls["\n"]()
                    screen.draw_lines(m.group())
                    offset = m.end()
                    continue
            m = match_text(text, offset)
            if m is not None:
                offset = m.end()
                draw(m.group())
                continue
            control = controls.get(char)
            if control is not None:
                control()
                offset += 1
            elif char == "\x1b" or char == "\x9b":
                offset = self._escape(text, offset)
            elif char in _C1_ESCAPES:
                self._esc[_C1_ESCAPES[char]]()
                offset += 1
            elif char in _C1_STRINGS:
                offset = self._take_string(text, offset + 1, _C1_STRINGS[char])
            else:
                offset += 1  # other controls (NUL, CAN, SUB, DEL, other C1) do nothing here

    # ----- escape sequences ------------------------------------------------------

    def _escape(self, text: str, offset: int) -> int:
        """Consume the escape sequence at ``offset`` (ESC or C1 CSI); where the text goes on."""
        second = text[offset + 1 : offset + 2]
        if text[offset] == "\x9b" or second == "[":
            return self._csi_sequence(text, offset)
        if second in _STRING_STARTS:
            return self._take_string(text, offset + 2, second)
        m = _ESC.match(text, offset)
        if m is not None:
            self._dispatch_esc(*m.groups())
            return m.end()
        if _ESC_PARTIAL.match(text, offset):
            self._carry = text[offset:]
            return len(text)
        return offset + 1  # ESC followed by a control or non-ASCII: the ESC is dropped

    def _csi_sequence(self, text: str, offset: int) -> int:
        m = _SGR.match(text, offset)  # the most common CSI, taken by its text
        if m is not None:
            self.listener.graphic_rendition_text(m.group(1))
            return m.end()
        m = _CSI.match(text, offset)
        if m is not None:
            self._dispatch_csi(*m.groups())
            return m.end()
        start = offset + (1 if text[offset] == "\x9b" else 2)
        end = _CSI_END.search(text, start)
        if end is None:
            if len(text) - offset <= _MAX_CARRY:
                self._carry = text[offset:]
            else:
                self._skipping_csi = True
            return len(text)
        stop = end.start()
        body = text[start:stop]
        for char in body:
            control = self._controls.get(char)
            if control is not None:
                control()
        terminator = text[stop]
        if terminator == "\x1b":
            return stop  # aborted; the ESC starts the next sequence
        if terminator in "\x18\x1a":
            return stop + 1
        parts = _CSI_BODY.match("".join(c for c in body if c >= " "))
        if parts is not None:
            self._dispatch_csi(parts.group(1), parts.group(2), terminator)
        return stop + 1

    def _skip_csi(self, text: str, offset: int) -> int:
        end = _CSI_END.search(text, offset)
        if end is None:
            return len(text)
        self._skipping_csi = False
        return end.start() if text[end.start()] == "\x1b" else end.end()

    def _dispatch_esc(self, intermediates: str, final: str) -> None:
        screen = self.listener
        if not intermediates:
            handler = self._esc.get(final)
            if handler is not None:
                handler()
        elif intermediates in ("(", ")"):
            screen.define_charset(final, intermediates)
        elif intermediates == "#" and final == "8":
            screen.alignment_display()

    def _dispatch_csi(self, raw: str, intermediates: str, final: str) -> None:
        parsed = _PARAMS.match(raw)
        if parsed is None:
            return  # a marker in the middle of the parameters: not a form anyone sends
        mark, params_text = parsed.groups()
        screen = self.listener
        try:
            if intermediates:
                if (mark, intermediates, final) == ("", "!", "p"):
                    screen.soft_reset()
                return
            if final == "m":
                if not mark:
                    screen.select_graphic_rendition(*_sgr_params(params_text))
                return
            params = [
                min(int(p.partition(":")[0] or 0), _MAX_PARAM) for p in params_text.split(";")
            ]
            if not mark:
                handler = self._csi.get(final)
                if handler is not None:
                    handler(*params)
            elif mark == "?":
                if final in _PRIVATE_FINALS:
                    self._csi[final](*params, private=True)
            elif mark == ">" and final == "c":
                screen.report_secondary_device_attributes(params[0])
        except Exception as error:  # a program's bad parameters must not stop the terminal
            self._count_error(error)

    # ----- control strings --------------------------------------------------------

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
            self._string_kind = None  # Linux palette reset/set: no string
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
        if command in ("0", "1"):
            screen.set_icon_name(param)
        if command in ("0", "2"):
            screen.set_title(param)

    def _count_error(self, error: Exception) -> None:
        self.errors += 1
        log.debug("terminal: ignored a sequence the emulator rejected: %r", error)


def _sgr_params(text: str) -> list[int]:
    """SGR parameters as the ``;`` form the screen takes; ``:`` sub-parameters folded in.

    ``38:5:n`` and ``38:2:[colourspace:]r:g:b`` (and 48) become their ``;`` forms,
    ``4:n`` is underline on (n > 0) or off, underline colour (58) is dropped, and any
    other ``n:...`` is ``n``.
    """
    if ":" not in text:
        return [min(int(p or 0), _MAX_PARAM) for p in text.split(";")]
    params: list[int] = []
    for group in text.split(";"):
        if ":" not in group:
            params.append(min(int(group or 0), _MAX_PARAM))
            continue
        subs = [min(int(p or 0), _MAX_PARAM) for p in group.split(":")]
        head = subs[0]
        if head in (38, 48) and len(subs) >= 3 and subs[1] == 5:
            params += (head, 5, subs[2])
        elif head in (38, 48) and len(subs) >= 5 and subs[1] == 2:
            params += (head, 2, *subs[-3:])
        elif head == 4:
            params.append(4 if len(subs) < 2 or subs[1] else 24)
        elif head not in (38, 48, 58):
            params.append(head)
    return params
