"""Real programs in the terminal widget, in a tiny app that mounts only the widget.

Needs bash, less, vim and tput (ncurses-bin) on the machine: CI installs vim and less.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from rich.color import Color
from textual import events
from textual.pilot import Pilot

from hivetui.terminal.emulator import PRIMARY_DA_REPLY, SECONDARY_DA_REPLY
from hivetui.terminal.palette import XTERM
from hivetui.tui.widgets.terminal import Terminal
from tests.terminal_testing import (
    TerminalTestApp,
    cell_style,
    find_text,
    plain_env,
    rendered_text,
    wait_for_text,
    wait_until,
)

BASH = ["bash", "--norc", "--noprofile"]


def shell_app(**env: str) -> TerminalTestApp:
    return TerminalTestApp(BASH, env=plain_env(**env))


async def type_line(pilot: Pilot[None], line: str) -> None:
    """Send a command line as typed input (one write: pilot.press costs ~60 ms a key)."""
    terminal = pilot.app.query_one(Terminal)
    terminal.write(line.encode() + b"\r")
    await pilot.pause()


def reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


async def test_coloured_printf_renders_styled_cells() -> None:
    app = shell_app()
    async with app.run_test(size=(80, 20)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(
            pilot,
            r"printf 'A\e[1;31mRED\e[0m \e[38;5;46mG256\e[0m \e[38;2;10;20;30;48;5;196mTRUE\e[0m"
            r" \e[4mUL\e[0m \e[7mREV\e[0m\n'",
        )
        await wait_for_text(term, "ARED G256 TRUE UL REV")
        x, y = find_text(term, "ARED G256")
        plain = cell_style(term, x, y)
        red = cell_style(term, x + 1, y)
        assert red.color == Color.from_rgb(*XTERM[1])  # the terminal's palette, not the theme's
        assert red.bold
        assert plain.color != red.color and not plain.bold
        g256 = cell_style(term, x + 5, y)
        assert g256.color is not None and g256.color.get_truecolor() == (0, 255, 0)
        true = cell_style(term, x + 10, y)
        assert true.color is not None and true.color.get_truecolor() == (10, 20, 30)
        assert true.bgcolor is not None and true.bgcolor.get_truecolor() == (255, 0, 0)
        assert cell_style(term, x + 15, y).underline
        assert cell_style(term, x + 18, y).reverse


async def test_less_enters_and_leaves_the_alternate_screen(tmp_path: Path) -> None:
    if shutil.which("less") is None:
        pytest.fail("less is not installed (CI installs it: apt-get install less)")
    page = tmp_path / "page.txt"
    page.write_text("".join(f"paged line {n}\n" for n in range(200)))
    app = shell_app(LESS="", LESSHISTFILE="-")
    async with app.run_test(size=(80, 20)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, "echo PRIOR-MARKER")
        await wait_for_text(term, "$ echo PRIOR-MARKER\nPRIOR-MARKER")
        await type_line(pilot, f"less {page}")
        await wait_for_text(term, "paged line 0")
        assert term.emulator.screen.in_alt_screen
        assert "PRIOR-MARKER" not in rendered_text(term)
        await pilot.press("space")
        await wait_for_text(term, "paged line 25")
        await pilot.press("q")
        await wait_until(lambda: not term.emulator.screen.in_alt_screen, what="less to leave")
        await wait_for_text(term, "PRIOR-MARKER")
        text = rendered_text(term)
        assert "paged line" not in text
        assert text.index("PRIOR-MARKER") < text.index(f"less {page}")


async def test_vim_enters_and_leaves_the_alternate_screen(tmp_path: Path) -> None:
    if shutil.which("vim") is None:
        pytest.fail("vim is not installed (CI installs it: apt-get install vim)")
    note = tmp_path / "note.txt"
    note.write_text("inside the editor\n")
    app = shell_app()
    async with app.run_test(size=(80, 20)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, "echo BEFORE-VIM")
        await wait_for_text(term, "\nBEFORE-VIM")
        await type_line(pilot, f"vim -u NONE -i NONE -N {note}")
        await wait_for_text(term, "inside the editor")
        assert term.emulator.screen.in_alt_screen
        assert "BEFORE-VIM" not in rendered_text(term)
        await type_line(pilot, ":q")
        await wait_until(lambda: not term.emulator.screen.in_alt_screen, what="vim to leave")
        await wait_for_text(term, "\nBEFORE-VIM")
        assert "inside the editor" not in rendered_text(term)


async def test_tput_follows_a_resize() -> None:
    app = shell_app()
    async with app.run_test(size=(80, 20)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, "echo size $(tput cols)x$(tput lines)")
        await wait_for_text(term, "size 80x20")
        await pilot.resize_terminal(100, 30)
        await wait_until(lambda: term.emulator.screen.columns == 100, what="the resize")
        await type_line(pilot, "echo size $(tput cols)x$(tput lines)")
        await wait_for_text(term, "size 100x30")
        await pilot.resize_terminal(60, 12)
        await wait_until(lambda: term.emulator.screen.lines == 12, what="the resize")
        await type_line(pilot, "clear; echo size $(tput cols)x$(tput lines)")
        await wait_for_text(term, "size 60x12")


MOUSE_READER = textwrap.dedent(
    """
    import os, sys, termios, tty
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        sys.stdout.write("\\x1b[?1000h\\x1b[?1006hMOUSE-READY\\r\\n")
        sys.stdout.flush()
        data = b""
        while not data.endswith(b"m"):
            data += os.read(fd, 64)
    finally:
        sys.stdout.write("\\x1b[?1006l\\x1b[?1000l")
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
    print("GOT", data.decode().replace("\\x1b", "ESC"))
    """
)


async def test_a_program_reads_a_mouse_click(tmp_path: Path) -> None:
    script = tmp_path / "mouse.py"
    script.write_text(MOUSE_READER)
    app = shell_app()
    async with app.run_test(size=(80, 20)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, f"clear; {sys.executable} {script}")
        await wait_for_text(term, "MOUSE-READY")
        assert term.emulator.screen.mouse_tracking == 1000
        await pilot.click(term, offset=(7, 4))
        await wait_for_text(term, "GOT ESC[<0;8;5MESC[<0;8;5m")
        await wait_until(lambda: term.emulator.screen.mouse_tracking == 0, what="mouse mode off")


QUERY_READER = textwrap.dedent(
    """
    import os, sys, termios, tty
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    tty.setraw(fd)
    def ask(query, end):
        os.write(1, query)
        data = b""
        while not data.endswith(end):
            data += os.read(fd, 64)
        return data.decode().replace("\\x1b", "ESC")
    try:
        answers = [ask(b"\\x1b[c", b"c"), ask(b"\\x1b[>c", b"c"), ask(b"\\x1b[6n", b"R")]
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
    print("DA", *answers)
    """
)


async def test_device_attribute_and_status_queries_are_answered(tmp_path: Path) -> None:
    script = tmp_path / "query.py"
    script.write_text(QUERY_READER)
    app = shell_app()
    async with app.run_test(size=(80, 20)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, f"clear; {sys.executable} {script}")
        primary = PRIMARY_DA_REPLY.replace("\x1b", "ESC")
        secondary = SECONDARY_DA_REPLY.replace("\x1b", "ESC")
        await wait_for_text(term, f"DA {primary} {secondary} ESC[1;1R")


async def test_bracketed_paste_reaches_the_program(tmp_path: Path) -> None:
    script = tmp_path / "paste.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, termios, tty
            fd = sys.stdin.fileno()
            tty.setraw(fd)
            os.write(1, b"\\x1b[?2004hPASTE-READY\\r\\n")
            data = b""
            while not data.endswith(b"\\x1b[201~"):
                data += os.read(fd, 64)
            os.write(1, b"\\x1b[?2004l")
            print("GOT", repr(data), end="\\r\\n")
            """
        )
    )
    app = shell_app()
    async with app.run_test(size=(80, 20)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, f"{sys.executable} {script}")
        await wait_for_text(term, "PASTE-READY")
        assert term.emulator.screen.bracketed_paste
        term.post_message(events.Paste("two\nlines"))
        await wait_for_text(term, r"GOT b'\x1b[200~two\rlines\x1b[201~'")


async def test_scrollback_with_shift_page_keys() -> None:
    app = shell_app()
    async with app.run_test(size=(60, 10)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, "seq 1 100")
        await wait_for_text(term, "\n100\n$")
        assert "\n50\n" not in rendered_text(term)
        for _ in range(5):  # 5 pages of 9 lines back from the bottom: lines 47..56
            await pilot.press("shift+pageup")
        await wait_until(lambda: term.history_offset > 0, what="scrolling back")
        await wait_for_text(term, "\n50\n")
        await pilot.press("shift+pagedown")
        await pilot.press("x")  # typing returns to the live screen
        await wait_until(lambda: term.history_offset == 0, what="back to live")
        await wait_for_text(term, "100\n$ x")


async def test_release_key_posts_a_message_and_the_shell_keeps_running() -> None:
    app = shell_app()
    async with app.run_test(size=(60, 10)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await pilot.press("ctrl+right_square_bracket")
        await wait_until(lambda: len(app.released) == 1, what="FocusReleased")
        assert app.released[0].terminal is term
        assert term.running
        await pilot.press(*"echo still-here", "enter")  # real key events, one by one
        await wait_for_text(term, "\nstill-here")


async def test_exit_is_shown_and_posted() -> None:
    app = shell_app()
    async with app.run_test(size=(60, 10)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, "exit 3")
        await wait_until(lambda: len(app.exited) == 1, what="Exited")
        assert app.exited[0].returncode == 3
        await wait_for_text(term, "[process exited with status 3]")
        assert term.process is not None and reaped(term.process.pid)


async def test_removing_the_widget_ends_the_shell() -> None:
    app = shell_app()
    async with app.run_test(size=(60, 10)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, "trap '' TERM INT; echo trapped")
        await wait_for_text(term, "\ntrapped")
        assert term.process is not None
        pid = term.process.pid
        await term.remove()
        assert reaped(pid)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_hidden_terminal_renders_nothing_and_catches_up_when_shown() -> None:
    app = shell_app()
    async with app.run_test(size=(60, 10)) as pilot:
        term = app.terminal
        await wait_for_text(term, "$")
        await type_line(pilot, "sleep 0.5; seq 1 3000 | tail -n 1")
        term.display = False
        await wait_until(lambda: not term._shown, what="the Hide event")
        assert term.pump is not None and term.pump.throttled  # fed at a bounded rate
        frames = term.frames
        await wait_until(lambda: "3000" in term.screen_text(), what="output fed while hidden")
        assert term.frames == frames
        assert "3000" not in rendered_text(term)
        term.display = True
        await wait_for_text(term, "\n3000\n$")
        assert term.frames > frames
        assert not term.pump.throttled
