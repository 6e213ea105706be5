"""Counted nouns for people to read: "1 agent", "12 agents", "1 match", "0 crashes"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, the plural (``noun + "s"`` unless given) unless exactly one."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
