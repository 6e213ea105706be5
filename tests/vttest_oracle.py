"""Run one program twice, in our emulator (on a real PTY) and in a real tmux pane, and compare.

The tmux pane (same size, same TERM, same keys) is the oracle: after each step both
sides are left to go quiet, then their screens are compared line by line, text
and (optionally) cell attributes. tmux's attributes are read back through
``capture-pane -e``, whose output is plain text and SGR only.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence

from ptyprocess import PtyProcess

from hivetui.terminal.cells import DEC_GRAPHICS_CHARSET
from hivetui.terminal.emulator import PRIMARY_DA_REPLY, SECONDARY_DA_REPLY, Emulator

#: tmux 3.3a's device attributes. vttest picks its menus (VT100 or VT220 charset tests,
#: which report tests) from the reply, so our side answers as tmux does: both sides
#: then run the same screens.
_AS_TMUX = {PRIMARY_DA_REPLY: "\x1b[?1;2c", SECONDARY_DA_REPLY: "\x1b[>84;0;0c"}
#: tmux's capture shows a DEC line-drawing cell as the ASCII byte it stores ("q", not "─").
_AS_CAPTURED = {
    ord(glyph): chr(0x5F + i) for i, glyph in enumerate(DEC_GRAPHICS_CHARSET[0x5F:0x7F])
}
QUIET_S = 0.25
STEP_TIMEOUT_S = 5.0


def available() -> bool:
    return shutil.which("tmux") is not None and shutil.which("vttest") is not None


class EmulatorPane:
    """``argv`` on a PTY of ``columns`` x ``lines``, its output fed to our ``Emulator``."""

    def __init__(self, argv: Sequence[str], columns: int, lines: int, env: dict[str, str]) -> None:
        self.emulator = Emulator(columns, lines, reply=self._reply)
        self.process = PtyProcess.spawn(list(argv), env=env, dimensions=(lines, columns))
        self._fd = self.process.fd

    def _reply(self, text: str) -> None:
        os.write(self._fd, _AS_TMUX.get(text, text).encode())

    def send(self, text: str) -> None:
        os.write(self._fd, text.encode())

    def pump(self, timeout: float) -> bool:
        """Feed what the program wrote within ``timeout``; whether anything came."""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self._fd, 65536)
        except OSError:
            return False
        self.emulator.feed(data)
        return bool(data)

    def screen(self) -> list[str]:
        return [line.rstrip(" ") for line in self.emulator.display]

    def close(self) -> None:
        self.process.terminate(force=True)


class TmuxPane:
    """``argv`` in a detached tmux session of its own server (its own socket)."""

    def __init__(self, argv: Sequence[str], columns: int, lines: int, env: dict[str, str]) -> None:
        self.columns, self.lines = columns, lines
        self._socket = f"hivetui-oracle-{uuid.uuid4().hex[:8]}"
        command = ["new-session", "-d", "-x", str(columns), "-y", str(lines)]
        for key in ("TERM", "LANG"):
            command += ["-e", f"{key}={env[key]}"]
        self._tmux(*command, " ".join(argv))

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self._socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def send(self, text: str) -> None:
        self._tmux("send-keys", "-l", text)

    def screen(self) -> list[str]:
        lines = self._tmux("capture-pane", "-p").split("\n")[: self.lines]
        return [line.rstrip() for line in lines] + [""] * (self.lines - len(lines))

    def styled(self) -> Emulator:
        """tmux's screen with its attributes, read back into an emulator of the same size."""
        raw = self._tmux("capture-pane", "-p", "-e")
        emulator = Emulator(self.columns, self.lines)
        rows = raw.split("\n")[: self.lines]
        emulator.feed("\r\n".join(rows).encode())  # its SGR state runs on across rows
        return emulator

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self._socket, "kill-server"], capture_output=True)


class Comparison:
    """Both panes, driven by the same keys."""

    def __init__(self, argv: Sequence[str], columns: int = 80, lines: int = 24) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "TERM": "xterm",
            "LANG": "C.UTF-8",
        }
        self.ours = EmulatorPane(argv, columns, lines, env)
        self.tmux = TmuxPane(argv, columns, lines, env)

    def settle(self) -> None:
        """Until our side has been quiet for ``QUIET_S`` and tmux's screen has stopped changing."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        quiet_since = time.monotonic()
        last = self.tmux.screen()
        while time.monotonic() < deadline:
            if self.ours.pump(0.05):
                quiet_since = time.monotonic()
                continue
            current = self.tmux.screen()
            if current != last:
                last, quiet_since = current, time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_S:
                return

    def send(self, text: str) -> None:
        self.ours.send(text)
        self.tmux.send(text)
        self.settle()

    def ours_text(self) -> list[str]:
        """Our screen as tmux's capture would show it."""
        return [row.translate(_AS_CAPTURED) for row in self.ours.screen()]

    def differences(self, *, attributes: bool = False) -> list[str]:
        """Rows that differ, as readable lines (empty when the screens match)."""
        ours, theirs = self.ours_text(), self.tmux.screen()
        diffs = [
            f"row {y}: ours {a!r}\n        tmux {b!r}"
            for y, (a, b) in enumerate(zip(ours, theirs, strict=True))
            if a != b
        ]
        if attributes and not diffs:
            diffs = self._attribute_differences()
        return diffs

    def _attribute_differences(self) -> list[str]:
        ours, theirs = self.ours.emulator.screen, self.tmux.styled().screen
        diffs = []
        for y in range(ours.lines):
            for x in range(ours.columns):
                a, b = ours.buffer[y][x], theirs.buffer[y][x]
                reverse = a.reverse != ours.screen_reversed  # DECSCNM is kept as flipped cells
                if a.data.strip() and (a.fg, a.bg, a.bold, reverse) != (
                    b.fg,
                    b.bg,
                    b.bold,
                    b.reverse,
                ):
                    diffs.append(f"cell ({x}, {y}) {a.data!r}: ours {a[1:]} tmux {b[1:]}")
        return diffs[:10]

    def close(self) -> None:
        self.ours.close()
        self.tmux.close()
