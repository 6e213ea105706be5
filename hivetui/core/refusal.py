"""A pydantic ``ValidationError`` as one line that names each bad key and its rule.

``explain(exc, Model, noun="config key", prefix="bus")`` gives, per error,
``config key bus.max_recv_batch must be an integer from 1 to 10000, got 0 (what it is)``:
the dotted key (``mcp_servers[0].name`` inside arrays of tables), the rule in words from the
field's type and bounds (:func:`rule_of`), the bounded value given, and the field's
description. A validator's own message (a ``ValueError``) is kept as it is; ``origin(keys)``
may add where the value came from (an environment variable).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from hivetui.core.bounded import quoted

Origin = Callable[[list[str]], str]


def explain(exc: ValidationError, model: type[BaseModel], *, noun: str = "key",
            prefix: str = "", origin: Origin | None = None) -> str:
    """The refusals of ``exc`` (validating ``model``) as one line, each naming its key."""
    return "; ".join(_explain_one(error, model, noun, prefix, origin)
                     for error in exc.errors())


def _explain_one(error: ErrorDetails, model: type[BaseModel], noun: str, prefix: str,
                 origin: Origin | None) -> str:
    keys, field, parent = _walk(error["loc"], model, prefix)
    key = ".".join(keys)
    source = origin(keys) if origin is not None else ""
    named = f"{noun} {key}" + (f" (from {source})" if source else "")
    reason = str(error.get("ctx", {}).get("error", error["msg"]))
    if error["type"] == "extra_forbidden":
        known = ", ".join(sorted(_names(parent)))
        return f"unknown {noun} {key!r}" + (f" (from {source})" if source else "") + \
            f" (known here: {known})"
    if field is None:
        return f"{named}: {reason}"
    if error["type"] == "value_error":
        return reason if _model_in(field) is not None else f"{named}: {reason}"
    rule = rule_of(field)
    if error["type"] == "missing":
        return f"{named} is required: {rule}"
    about = f" ({field.description})" if field.description else ""
    return f"{named} must be {rule}, got {quoted(error['input'])}{about}"


def _walk(loc: tuple[int | str, ...], model: type[BaseModel], prefix: str
          ) -> tuple[list[str], FieldInfo | None, type[BaseModel]]:
    """The keys of ``loc``, the field they end at (None if unknown) and its model. An
    index into an array of tables is kept (``servers[0]``); into a list of scalars, dropped
    (the list's rule covers its items)."""
    keys = [prefix] if prefix else []
    field: FieldInfo | None = None
    parent = model
    for part in loc:
        if isinstance(part, int):
            if field is not None and _model_in(field) is not None and keys:
                keys[-1] += f"[{part}]"
            continue
        if field is not None:
            inner = _model_in(field)
            if inner is None:
                break
            parent = inner
        keys.append(part)
        field = _field(parent, part)
        if field is None:
            break
    return keys, field, parent


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    """``model``'s field called ``key`` in the data (its alias, if it has one)."""
    for name, field in model.model_fields.items():
        if (field.alias or name) == key or name == key:
            return field
    return None


def _names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a table (``Model``) or of an array of tables (``tuple[Model, ...]``)."""
    annotation = field.annotation
    if typing.get_origin(annotation) in (tuple, list):
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def rule_of(field: FieldInfo) -> str:
    """What ``field`` accepts, in words: its type and its range."""
    bounds: dict[str, Any] = {}
    for item in field.metadata:
        for name in ("ge", "gt", "le", "min_length"):
            if getattr(item, name, None) is not None:
                bounds[name] = getattr(item, name)
    if bounds.get("min_length"):
        return "non-empty text"
    ge, gt, le = bounds.get("ge"), bounds.get("gt"), bounds.get("le")
    if ge is not None and le is not None:
        span = f"from {_num(ge)} to {_num(le)}"
    elif gt is not None and le is not None:
        span = f"more than {_num(gt)} and at most {_num(le)}"
    elif ge is not None:
        span = f"at least {_num(ge)}"
    elif gt is not None:
        span = f"more than {_num(gt)}"
    else:
        span = ""
    return f"{_kind(field.annotation)} {span}".strip()


def _kind(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a table"
    kinds = {bool: "true or false", int: "an integer", float: "a finite number", str: "text"}
    if annotation in kinds:
        return kinds[annotation]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(annotation))
    if origin in (list, tuple):
        item = typing.get_args(annotation)[0]
        if isinstance(item, type) and issubclass(item, BaseModel):
            return "an array of tables"
        return "a list of strings"
    if origin is dict:
        return "a table of strings"
    return str(annotation)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
