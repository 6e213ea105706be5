"""hivetui: run a hive of autonomous coding agents from a terminal UI.

The version has one source, ``[project] version`` in pyproject.toml (the Nix package
reads it too); ``hivetui.__version__`` reads it from the installed metadata when asked.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("hivetui")
    raise AttributeError(f"module 'hivetui' has no attribute {name!r}")
