"""Names given to the hive, checked when they are requested (never first found wrong in a
container): agent names (the container is ``h-<name>``, which must fit nixos-container's
limit), runtimes and model names."""

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


def is_agent_name(name: str) -> bool:
    """Whether ``name`` passes :func:`validate_agent_name` (for listings that skip the rest)."""
    return _NAME_RE.fullmatch(name) is not None and name not in RESERVED


RUNTIME_RULE = ("claude, scripted:echo, scripted:manager or scripted:crash-after:N "
                "(N from 1 to 999999)")
RUNTIME_PATTERN = r"claude|scripted:(?:echo|manager|crash-after:[1-9][0-9]{0,5})"
_RUNTIME_RE = re.compile(RUNTIME_PATTERN)
MODEL_RULE = ("1 to 100 characters of A-Z a-z 0-9 and . _ : / @ [ ] + - "
              "(no spaces or control characters)")
MODEL_PATTERN = r"[A-Za-z0-9._:/@\[\]+-]{1,100}"
_MODEL_RE = re.compile(MODEL_PATTERN)


def _shown(value: str) -> str:
    """``value`` for an error message: bounded, controls escaped."""
    return repr(value[:40]) + ("…" if len(value) > 40 else "")


def validate_runtime(runtime: object) -> str:
    """Return ``runtime`` if the harness knows it, else raise with the rule."""
    if not isinstance(runtime, str) or _RUNTIME_RE.fullmatch(runtime) is None:
        shown = _shown(runtime) if isinstance(runtime, str) else type(runtime).__name__
        raise NameError_(f"unknown runtime {shown}: the runtime must be {RUNTIME_RULE}")
    return runtime


def validate_model(model: object) -> str:
    """Return ``model`` if it is a plausible model name, else raise with the rule."""
    if not isinstance(model, str) or _MODEL_RE.fullmatch(model) is None:
        shown = _shown(model) if isinstance(model, str) else type(model).__name__
        raise NameError_(f"invalid model name {shown}: a model name is {MODEL_RULE}")
    return model


def container_name(name: str) -> str:
    return f"h-{name}"
