"""Where the shipped ``styles/*.tcss`` files are, in a source tree and in an installed wheel.

The wheel force-includes the top-level ``styles/`` as ``hivetui/styles`` (pyproject); a
source checkout keeps it beside the package. Screens use ``CSS_PATH = style_path("x.tcss")``.
"""

from __future__ import annotations

from pathlib import Path

import hivetui

_PACKAGE = Path(hivetui.__file__).resolve().parent
_CANDIDATES = (_PACKAGE / "styles", _PACKAGE.parent / "styles")


def style_path(name: str) -> Path:
    """The path of the stylesheet ``name`` (e.g. ``"approvals.tcss"``)."""
    for folder in _CANDIDATES:
        path = folder / name
        if path.is_file():
            return path
    # A missing stylesheet is a packaging bug: Textual reports the path it could not read.
    return _CANDIDATES[-1] / name
