"""The JSON schema of config.toml: generated from the pydantic models, checked in as
nix/config-schema.json (``scripts/config-schema`` writes it), and the NixOS module's
``settings`` option built from it.

The module is evaluated with the nixpkgs stub of test_nix_support: a *fake* of lib's types
that records what the module asked for (``ints.between 1 10000``) and keeps the module's own
range checks as functions, which are run here. Real NixOS is not available offline.
"""

from __future__ import annotations

import json
import typing
from typing import Any, Literal

from pydantic import BaseModel

from hivetui.core.config import HiveConfig, config_schema
from tests.unit.test_nix_support import NIX_DIR, nix_eval_json, nix_path, write_stub

SCHEMA_FILE = NIX_DIR / "config-schema.json"

OPTIONS = """
let
  s = import STUB;
  settings = (s.evalModule MODULE { }).options.services.hivetui.settings;
  leaf = o:
    let t = o.type; in
    { inherit (o) default; kind = t._stubType; described = o.description != "";
      min = t.min or null; max = t.max or null; values = t.values or null; }
    // (if t ? check then { accepts = map t.check PROBES; } else { });
  table = o: builtins.mapAttrs
    (n: v: if v.type._stubType == "submodule" then table v else leaf v) o.type.module.options;
in table settings
"""


def test_the_checked_in_schema_is_the_generated_one() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == config_schema(), \
        "nix/config-schema.json is stale: run scripts/config-schema"


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return dict(model.model_fields)


def _probes(field: Any) -> list[float]:
    """Around the range's ends: each is accepted or refused as the model says."""
    low = next(getattr(m, a) for m in field.metadata for a in ("ge", "gt")
               if getattr(m, a, None) is not None)
    high = next(m.le for m in field.metadata if getattr(m, "le", None) is not None)
    return [low - 0.5, low, low + 0.5, high, high + 0.5]


def test_the_settings_option_has_every_key_with_its_rule(tmp_path: Any) -> None:
    floats = {f"{section}.{key}": field
              for section, sfield in _fields(HiveConfig).items()
              if isinstance(sfield.annotation, type) and issubclass(sfield.annotation, BaseModel)
              for key, field in _fields(sfield.annotation).items() if field.annotation is float}
    stub = nix_path(write_stub(tmp_path))
    probes = sorted({p for f in floats.values() for p in _probes(f)})
    options = nix_eval_json(OPTIONS.replace("STUB", stub)
                            .replace("MODULE", nix_path(NIX_DIR / "module.nix"))
                            .replace("PROBES", "[ " + " ".join(f"({p})" for p in probes) + " ]"))
    defaults = HiveConfig().model_dump()
    for section, sfield in _fields(HiveConfig).items():
        model = sfield.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            _check(options[section], sfield, defaults[section], section, probes)
            continue
        assert set(options[section]) == set(_fields(model)), section
        for key, field in _fields(model).items():
            _check(options[section][key], field, defaults[section][key], f"{section}.{key}",
                   probes)


def _check(option: dict[str, Any], field: Any, default: Any, key: str,
           probes: list[float]) -> None:
    assert option["default"] == default and option["described"], key
    annotation = field.annotation
    if annotation is int:
        bounds = {a: getattr(m, a) for m in field.metadata for a in ("ge", "le")
                  if getattr(m, a, None) is not None}
        assert (option["kind"], option["min"], option["max"]) == (
            "intsBetween", bounds["ge"], bounds["le"]), key
    elif annotation is float:
        assert option["kind"] == "number", key
        wanted = [_accepts(field, p) for p in probes]
        assert option["accepts"] == wanted, key
    elif typing.get_origin(annotation) is Literal:
        assert (option["kind"], option["values"]) == ("enum", list(typing.get_args(annotation)))
    else:
        kinds = {bool: "bool", str: "str"}
        assert option["kind"] == kinds.get(annotation, "listOf"), key


def _accepts(field: Any, value: float) -> bool:
    for m in field.metadata:
        if getattr(m, "ge", None) is not None and not value >= m.ge:
            return False
        if getattr(m, "gt", None) is not None and not value > m.gt:
            return False
        if getattr(m, "le", None) is not None and not value <= m.le:
            return False
    return True
