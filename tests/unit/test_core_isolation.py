"""The core is reachable without the TUI: importing it never loads Textual or Rich."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys, pkgutil, importlib
import hivetui.core
for m in pkgutil.walk_packages(hivetui.core.__path__, 'hivetui.core.'):
    importlib.import_module(m.name)
bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich', 'textual_plotext'))
print(','.join(bad))
"""


def test_core_imports_without_textual_or_rich() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "", f"core pulled in UI modules: {out.stdout}"


def test_the_check_can_fail() -> None:
    """The same probe reports textual when something does import it."""
    probe = CHECK.replace("import hivetui.core\n", "import hivetui.core\nimport textual\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60)
    assert "textual" in out.stdout
