"""The bench's flood: scroll ``y`` lines as fast as the terminal takes them, and show the
keys read so far (the last 40) on the bottom row, outside the scrolling region, where
they stay. Keys may come in separate reads (a terminal may send each key on its own):
a token of several keys shows once all of them arrived.

A tty echo inside a flood scrolls away before any terminal draws it; this echo stays, so
"typed -> on the screen" can be timed. Raw mode (no tty echo, no signals); ^C ends it.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import tty


def main() -> None:
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    rows = os.get_terminal_size(fd).lines
    out = sys.stdout.buffer
    flood = b"y\r\n" * 2048
    typed = b""
    tty.setraw(fd)
    try:
        out.write(b"\x1b[1;%dr\x1b[1;1H" % (rows - 1))
        while True:
            if select.select([fd], [], [], 0)[0]:
                keys = os.read(fd, 64)
                if b"\x03" in keys:
                    break
                typed = (typed + keys)[-40:]
                out.write(b"\x1b7\x1b[%d;1H\x1b[2Kgot %s\x1b8" % (rows, typed))
            out.write(flood)
            out.flush()
    finally:
        out.write(b"\x1b[r\x1b[%d;1H\r\n" % rows)
        out.flush()
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    main()
