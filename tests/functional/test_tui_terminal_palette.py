"""The operator's terminal palette (``[terminal] palette``) is how an agent's shell draws
the 16 ANSI colours; the UI theme never remaps them.

Pilot test over a real hive (real sqlite); the containers are the in-memory
``FakeBackendRecorder`` of ``test_tui_app`` (a fake: its shell is a local ``/bin/sh``).
"""

from __future__ import annotations

from rich.color import Color

from hivetui.core.hive import Hive
from hivetui.terminal.palette import XTERM, parse_palette
from tests.functional.test_tui_app import hive, make_app, rows, until
from tests.functional.test_tui_terminal_safety import open_shell
from tests.terminal_testing import cell_style, find_text, wait_for_text

__all__ = ["hive"]

#: Sixteen greys, none of them an xterm colour.
GREYS = parse_palette(" ".join(f"#{16 * n + 3:02x}{16 * n + 3:02x}{16 * n + 3:02x}"
                               for n in range(16)))


async def test_the_configured_palette_draws_the_shells_ansi_colours(hive: Hive) -> None:
    app, _ = make_app(hive, terminal_palette=GREYS)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: len(rows(app)) == 4)
        terminal = await open_shell(pilot, app, "alice")
        terminal.write(rb"printf 'A\033[31mRED\033[0m \033[95;104mHI\033[0m\n'" + b"\r")
        await wait_for_text(terminal, "ARED HI")
        x, y = find_text(terminal, "ARED HI")
        red = cell_style(terminal, x + 1, y)
        assert red.color == Color.from_rgb(*GREYS[1]) != Color.from_rgb(*XTERM[1])
        bright = cell_style(terminal, x + 5, y)
        assert bright.color == Color.from_rgb(*GREYS[13])
        assert bright.bgcolor == Color.from_rgb(*GREYS[12])
