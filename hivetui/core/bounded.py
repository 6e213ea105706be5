"""Bounded echo of caller input: error text and logs never repeat an input whole.

``quoted(value)`` is the ``repr`` of ``value`` when it is short, else the ``repr`` of its
first ``QUOTE_CHARS`` characters followed by ``… (N chars)``, N being the full length, so a
3 MiB name costs a refusal about a hundred bytes, not three megabytes. ``clipped(text)``
does the same for text shown as it is (no quotes).
"""

from __future__ import annotations

QUOTE_CHARS = 60


def clipped(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text``, or its first ``limit`` characters and its full length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} chars)"


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)``; a long string shows its first ``limit`` characters and its length."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value)} chars)"
    return clipped(_text(value), limit)


def _text(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a repr that fails (nesting too deep) still gets a name
        return f"<{type(value).__name__}>"
