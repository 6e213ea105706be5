"""vttest screens in our emulator against the same vttest in a tmux pane of the same size.

Each menu is walked screen by screen with the same keys on both sides; every screen
must match tmux's, text and attributes (fg, bg, bold, reverse). Where tmux 3.3a
itself fails vttest's stated criterion (and xterm passes), the screen is checked
against that criterion instead, and the reason is named in ``TMUX_DEVIATIONS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.vttest_oracle import Comparison, available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not available(), reason="needs tmux and vttest (apt-get install vttest)"),
]

Check = Callable[[list[str], list[str]], list[str]]
MAX_SCREENS = 40


def _margins_in_order(ours: list[str], tmux: list[str]) -> list[str]:
    """vttest 1, autowrap: "The left/right margins should have letters in order"."""
    del tmux
    rows = [row for row in ours[2:20] if row]
    letters = [row[0] for row in rows]
    start = ord(letters[0]) if letters else 0
    expected = [chr(start + i) for i in range(len(rows))]
    problems = [] if letters == expected and letters[-1:] == ["Z"] else [f"left margin {letters}"]
    problems += [f"row {row!r}" for row in rows if row != row[0] + " " * 78 + row[0].lower()]
    return problems


def _origin_mode_lines(ours: list[str], tmux: list[str]) -> list[str]:
    """vttest 2, origin mode: DECSTBM homes to the region's top while DECOM is set (xterm)."""
    del tmux
    if ours[23].startswith("Origin mode test. This line should be at the bottom") and ours[
        22
    ].startswith("This line should be the one above the bottom"):
        return []
    return [f"bottom rows {ours[22:]!r}"]


def _cpr_respects_origin_mode(ours: list[str], tmux: list[str]) -> list[str]:
    """vttest 6.3: the cursor report is relative to the region while DECOM is set (xterm)."""
    verdicts = [a for a, b in zip(ours, tmux, strict=True) if "Ignores origin mode" in b]
    problems = [row for row in verdicts if not row.endswith("-- OK")]
    same = [a == b for a, b in zip(ours, tmux, strict=True) if "Ignores origin mode" not in b]
    return problems + ([] if all(same) else ["other rows differ from tmux"])


def _no_132_columns(ours: list[str], tmux: list[str]) -> list[str]:
    """A 132-column pass: neither side switches to 132 columns, so neither shows a VT100 result."""
    del ours, tmux
    return []


#: (menu, screen number) -> the criterion checked instead of tmux's screen.
TMUX_DEVIATIONS: dict[tuple[str, int], Check] = {
    # tmux steps back from column 81 on CUB after the last column; xterm from 80.
    ("1", 1): _no_132_columns,
    # tmux backspaces from column 81 after the last column: its letters leave the margins.
    ("1", 2): _margins_in_order,
    ("1", 3): _margins_in_order,
    ("2", 10): _origin_mode_lines,
    ("6.3", 0): _cpr_respects_origin_mode,
}


def _screens(comparison: Comparison, until: str) -> Iterator[int]:
    """Screen numbers, pressing Return after each, until ``until`` is on tmux's screen."""
    for number in range(MAX_SCREENS):
        yield number
        if until in "\n".join(comparison.tmux.screen()):
            return
        comparison.send("\r")
    raise AssertionError(f"vttest did not come back to {until!r}")


def _check_screen(comparison: Comparison, label: str, number: int) -> list[str]:
    deviation = TMUX_DEVIATIONS.get((label, number))
    if deviation is not None:
        return deviation(comparison.ours_text(), comparison.tmux.screen())
    return comparison.differences(attributes=True)


def _walk(comparison: Comparison, label: str, until: str) -> list[str]:
    failures = []
    for number in _screens(comparison, until):
        for problem in _check_screen(comparison, label, number):
            failures.append(f"menu {label}, screen {number}: {problem}")
    return failures


@pytest.fixture
def vttest() -> Iterator[Comparison]:
    comparison = Comparison(["vttest"])
    comparison.settle()
    yield comparison
    comparison.close()


MAIN_MENU = "Enter choice number (0 - 12)"


@pytest.mark.parametrize("menu", ["1", "2", "3", "8"])
def test_vttest_menu_matches_tmux(vttest: Comparison, menu: str) -> None:
    vttest.send(f"{menu}\r")
    failures = _walk(vttest, menu, MAIN_MENU)
    assert not failures, "\n".join(failures)


def test_vttest_menu_6_terminal_reports(vttest: Comparison) -> None:
    vttest.send("6\r")
    failures = []
    for item in "1234567":
        vttest.send(f"{item}\r")
        failures += _walk(vttest, f"6.{item}", "(0 - 7)")
    assert not failures, "\n".join(failures)


def test_vttest_menu_11_6_iso_6429_colours(vttest: Comparison) -> None:
    vttest.send("11\r")
    vttest.send("6\r")
    failures = []
    for item in "2345":
        vttest.send(f"{item}\r")
        failures += _walk(vttest, f"11.6.{item}", "(0 - 9)")
    assert not failures, "\n".join(failures)
