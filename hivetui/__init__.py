"""hivetui: run a hive of autonomous coding agents from a terminal UI."""

__version__ = "0.1.0"
