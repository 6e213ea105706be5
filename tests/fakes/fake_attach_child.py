"""A stand-in for `hivetui attach` run by the SSH server on a session's PTY (tests only).

It reports what a real TUI depends on, one line each (``\\r\\n``, the terminal is raw):
``TERM=…``, ``SIZE=<cols>x<rows>`` (again on every SIGWINCH), ``TOKEN=…``, ``SOCKET=…``,
``PROC=<pid> <pgid> <sid>``, ``CTTY=<yes|no>`` (the PTY is its controlling terminal and
it is in the foreground), ``LANG=…``, ``COLORTERM=…``, ``NO_COLOR=…`` (``<unset>``
if unset), then ``READY``. Input is echoed as ``IN=<repr>``; ``q`` exits 0, ``x`` exits 7,
``w`` prints the window size again without a signal, ``f`` writes 4 MiB then ``FLOODED``.

``--shell`` instead reads lines and runs ``ctl ARGS…`` as the real ``hivetui ctl --socket
$HIVETUI_SOCKET ARGS…`` (which finds its session token in the environment, as ``attach``
does), printing ``CTL rc=<code> <stdout+stderr>``; an operator's actions go end to end.

Flags: ``--grandchild`` starts ``sleep`` in a session of its own (a straggler the server
must still clean up) and prints ``GRANDCHILD=<pid>``; ``--ignore-hup`` ignores SIGHUP and
SIGTERM (the server must escalate to SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import termios
import time
import tty


def say(line: str) -> None:
    os.write(1, (line + "\r\n").encode())


def size_line() -> str:
    cols, rows = os.get_terminal_size(0)
    return f"SIZE={cols}x{rows}"


def shell() -> int:
    line = b""
    while True:
        data = os.read(0, 1024)
        if not data:
            return 0
        line += data
        while b"\r" in line:
            cmd, line = line.split(b"\r", 1)
            words = cmd.decode().split()
            if words[:1] == ["exit"]:
                return 0
            if words[:1] == ["ctl"]:
                out = subprocess.run(
                    [sys.executable, "-m", "hivetui", "ctl", "--socket",
                     os.environ["HIVETUI_SOCKET"], *words[1:]],
                    capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
                text = (out.stdout + out.stderr).strip().replace("\n", " | ")
                say(f"CTL rc={out.returncode} {text}")


def main() -> int:
    args = sys.argv[1:]
    if "--ignore-hup" in args:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGWINCH, lambda *_: say("WINCH " + size_line()))
    old = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        say(f"TERM={os.environ.get('TERM', '')}")
        say(size_line())
        say(f"TOKEN={os.environ.get('HIVETUI_SESSION_TOKEN', '')}")
        say(f"SOCKET={os.environ.get('HIVETUI_SOCKET', '')}")
        say(f"PROC={os.getpid()} {os.getpgrp()} {os.getsid(0)}")
        try:
            fd = os.open("/dev/tty", os.O_RDWR)
            os.close(fd)
            ctty = os.tcgetpgrp(0) == os.getpgrp()
        except OSError:
            ctty = False
        say(f"CTTY={'yes' if ctty else 'no'}")
        say(f"SECRET={os.environ.get('FAKE_SERVER_SECRET', '')}")
        say(f"LANG={os.environ.get('LANG', '')}")
        say(f"COLORTERM={os.environ.get('COLORTERM', '')}")
        say(f"NO_COLOR={os.environ.get('NO_COLOR', '<unset>')}")
        say(f"EVIL={os.environ.get('EVIL', '')}")
        if "--grandchild" in args:
            proc = subprocess.Popen(["sleep", "1000"], start_new_session=True)
            say(f"GRANDCHILD={proc.pid}")
        say("READY")
        if "--shell" in args:
            return shell()
        while True:
            try:
                data = os.read(0, 1024)
            except OSError:  # hung up
                data = b""
            if not data and "--ignore-hup" in args:
                while True:  # a stubborn program: only SIGKILL ends it
                    time.sleep(1)
            if not data:
                return 0
            say(f"IN={data!r}")
            if b"q" in data:
                return 0
            if b"x" in data:
                return 7
            if b"w" in data:
                say(size_line())
            if b"f" in data:  # a flood: 4 MiB as fast as the terminal takes it
                block = b"y" * 1023 + b"\n"
                for _ in range(4096):
                    os.write(1, block)
                say("FLOODED")
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, old)


if __name__ == "__main__":
    sys.exit(main())
