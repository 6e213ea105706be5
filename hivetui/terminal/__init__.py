"""The terminal engine, without any UI: the VT parser and screen (``stream``,
``emulator``, ``cells``, ``lines``, ``palette``), the PTY process (``pty``), key
encoding (``keys``) and frame pacing (``pacing``).

Contract: nothing here imports Textual or Rich (an import-linter contract holds it),
so the engine runs headless in tests and benches. The Textual widget that draws it
lives in ``hivetui.tui.widgets.terminal``.
"""
