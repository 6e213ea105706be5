"""``[terminal] palette``: the operator's 16 ANSI colours for the agents' shells.

Read from config.toml, handed to the app (``terminal_palette``), refused with an error
naming the key and the rule when it is not 16 ``#rrggbb`` colours.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hivetui.core.config import load_config
from hivetui.core.errors import ConfigError
from hivetui.terminal.palette import XTERM

ROOT = Path(__file__).resolve().parents[2]
GREYS = ", ".join(f"#{n:02x}{n:02x}{n:02x}" for n in range(16))


def test_the_palette_key_sets_the_colours_and_defaults_to_xterm(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    assert load_config(config).terminal.colours() == XTERM
    config.write_text(f'[terminal]\npalette = "{GREYS}"\n')
    colours = load_config(config).terminal.colours()
    assert colours[1] == (1, 1, 1) and colours[15] == (15, 15, 15) and len(colours) == 16


@pytest.mark.parametrize(("value", "why"), [
    ('"#ff0000 #00ff00"', "got 2 colours"),
    ('"' + "#12345g " * 16 + '"', "'#12345g' is not a #rrggbb colour"),
    ('"' + "red " * 16 + '"', "'red' is not a #rrggbb colour"),
    ("3", "must be"),
])
def test_a_bad_palette_is_refused_naming_the_key(tmp_path: Path, value: str, why: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[terminal]\npalette = {value}\n")
    with pytest.raises(ConfigError, match="terminal.palette") as refused:
        load_config(config)
    assert why in str(refused.value)


def test_attach_refuses_a_bad_palette_before_it_starts(tmp_path: Path) -> None:
    """The attaching operator's config gives the palette: a bad one is a usage error (2)."""
    config = tmp_path / "config.toml"
    config.write_text('[terminal]\npalette = "#000000"\n')
    done = subprocess.run(
        [sys.executable, "-m", "hivetui", "attach", "--config", str(config), "--state-dir",
         str(tmp_path), "--timeout", "5"], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, cwd=ROOT)
    assert done.returncode == 2
    assert "terminal.palette" in done.stderr and "expected 16 #rrggbb" in done.stderr
    assert len(done.stderr.splitlines()) == 1
