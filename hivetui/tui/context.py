"""What every hive screen is given: the API, the app's view of the hive, the clock, and
the operator's terminal palette."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hivetui.core.api import HiveAPI
from hivetui.terminal.palette import XTERM, Rgb
from hivetui.tui.state import HiveState


@dataclass
class HiveContext:
    api: HiveAPI
    state: HiveState
    clock: Callable[[], float] = field(default=time.time)
    where: str = ""  # "embedded" | "attached" | a fixture's label
    #: the 16 ANSI colours of embedded terminals (``[terminal] palette``)
    terminal_palette: tuple[Rgb, ...] = XTERM
