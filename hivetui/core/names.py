"""Agent names: the container is ``h-<name>``, which must fit nixos-container's limit."""

from __future__ import annotations

import re

from hivetui.core.bounded import quoted
from hivetui.core.errors import NameError_

NAME_RULE = "^[a-z][a-z0-9-]{0,8}$"
_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,8}")

#: Participants of the bus that are not agents.
OPERATOR = "operator"
SYSTEM = "system"
RESERVED = frozenset({OPERATOR, SYSTEM})


def validate_agent_name(name: object) -> str:
    """Return ``name`` if it is a valid agent name, else raise with the rule."""
    if not isinstance(name, str):
        raise NameError_(
            f"agent name must be a string matching {NAME_RULE}, got {type(name).__name__}"
        )
    if _NAME_RE.fullmatch(name) is None:
        raise NameError_(
            f"invalid agent name {quoted(name, 40)}: names must match {NAME_RULE} "
            "(a lowercase letter, then up to 8 of a-z 0-9 -; the container h-<name> "
            "must fit 11 characters)"
        )
    if name in RESERVED:
        raise NameError_(f"agent name {name!r} is reserved for the bus")
    return name


def container_name(name: str) -> str:
    return f"h-{name}"
