"""Pydantic field types for the hive's names: the rules of :mod:`hivetui.core.names`.

Kept apart from ``names`` because that module runs where pydantic is not installed (the
local backend's supervisor imports it with only hivetui on its path).
``AgentName``, ``RuntimeName`` and ``ModelName`` refuse with the rule's own message, before
the type check (a value of another type is told the rule too); their JSON schema carries
the pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import BeforeValidator, Field

from hivetui.core.errors import NameError_
from hivetui.core.names import (
    MODEL_PATTERN,
    NAME_RULE,
    RUNTIME_PATTERN,
    validate_agent_name,
    validate_model,
    validate_runtime,
)


def _as_value_error(check: Callable[[object], str]) -> Callable[[object], str]:
    """``check`` for pydantic: its message as a ``ValueError``."""
    def validate(value: object) -> str:
        try:
            return check(value)
        except NameError_ as exc:
            raise ValueError(exc.message) from None
    return validate


# the pattern first: pydantic's schema keeps a constraint written before a validator
RuntimeName = Annotated[str, Field(pattern=f"^(?:{RUNTIME_PATTERN})$"),
                        BeforeValidator(_as_value_error(validate_runtime))]
ModelName = Annotated[str, Field(pattern=f"^{MODEL_PATTERN}$"),
                      BeforeValidator(_as_value_error(validate_model))]
AgentName = Annotated[str, Field(pattern=NAME_RULE),
                      BeforeValidator(_as_value_error(validate_agent_name))]
