"""An agent's settings: what its config repo's ``settings.toml`` holds."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hivetui.core.errors import ConfigError, NameError_
from hivetui.core.names import validate_model, validate_runtime

DEFAULT_ALLOWED_TOOLS: tuple[str, ...] = (
    "Read",
    "Edit",
    "Write",
    "Glob",
    "Grep",
    "Bash(git *)",
    "mcp__hive",
)


@dataclass(frozen=True)
class McpServerSpec:
    """An extra MCP server an agent brings (stdio: command, args, env)."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "command": self.command, "args": list(self.args),
                "env": dict(self.env)}


@dataclass(frozen=True)
class AgentSettings:
    runtime: str = "claude"
    model: str = "claude-sonnet-4-5"
    allowed_tools: tuple[str, ...] = DEFAULT_ALLOWED_TOOLS
    extra_mcp_servers: tuple[McpServerSpec, ...] = ()
    private_users: bool = True
    packages: tuple[str, ...] = ()
    #: what the agent's API use may cost per day (UTC), reckoned by the core's credential
    #: broker from the responses' own usage; None: no limit
    budget_usd_per_day: float | None = None

    def with_model(self, model: str) -> AgentSettings:
        return replace(self, model=model)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "model": self.model,
            "allowed_tools": list(self.allowed_tools),
            "private_users": self.private_users,
            "packages": list(self.packages),
            "mcp_servers": [s.to_dict() for s in self.extra_mcp_servers],
            "budget_usd_per_day": self.budget_usd_per_day,
        }

    def to_toml(self) -> str:
        """Render as TOML (a small writer: values are strings, bools and string lists)."""
        q = json.dumps  # JSON string escaping is valid TOML basic-string escaping
        lines = [
            f"runtime = {q(self.runtime)}",
            f"model = {q(self.model)}",
            f"private_users = {'true' if self.private_users else 'false'}",
            "allowed_tools = [" + ", ".join(q(t) for t in self.allowed_tools) + "]",
            "packages = [" + ", ".join(q(p) for p in self.packages) + "]",
        ]
        if self.budget_usd_per_day is not None:
            lines.append(f"budget_usd_per_day = {self.budget_usd_per_day!r}")
        for spec in self.extra_mcp_servers:
            lines += ["", "[[mcp_servers]]", f"name = {q(spec.name)}",
                      f"command = {q(spec.command)}",
                      "args = [" + ", ".join(q(a) for a in spec.args) + "]"]
            if spec.env:
                env = ", ".join(f"{q(k)} = {q(v)}" for k, v in sorted(spec.env.items()))
                lines.append("env = { " + env + " }")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> AgentSettings:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings.toml is not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentSettings:
        known = {"runtime", "model", "allowed_tools", "private_users", "packages", "mcp_servers",
                 "budget_usd_per_day"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown settings keys {sorted(unknown)} (known: {sorted(known)})")
        base = cls()

        def strs(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = data.get(key, list(default))
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"settings key {key} must be a list of strings")
            return tuple(value)

        def text(key: str, default: str) -> str:
            value = data.get(key, default)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"settings key {key} must be a non-empty string")
            return value

        def named(key: str, default: str, check: Any) -> str:
            try:
                return str(check(text(key, default)))
            except NameError_ as exc:
                raise ConfigError(f"settings key {key}: {exc.message}") from exc

        servers = []
        raw_servers = data.get("mcp_servers", [])
        if not isinstance(raw_servers, list):
            raise ConfigError("settings key mcp_servers must be an array of tables")
        for raw in raw_servers:
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not \
                    isinstance(raw.get("command"), str):
                raise ConfigError("each [[mcp_servers]] needs string 'name' and 'command'")
            args = raw.get("args", [])
            env = raw.get("env", {})
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise ConfigError(f"mcp_servers.{raw['name']}.args must be a list of strings")
            if not isinstance(env, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items()
            ):
                raise ConfigError(f"mcp_servers.{raw['name']}.env must map strings to strings")
            if raw["name"] == "hive":
                raise ConfigError("mcp_servers: the name 'hive' is reserved for the hive bridge")
            servers.append(McpServerSpec(raw["name"], raw["command"], tuple(args), dict(env)))
        private = data.get("private_users", base.private_users)
        if not isinstance(private, bool):
            raise ConfigError("settings key private_users must be true or false")
        return cls(
            runtime=named("runtime", base.runtime, validate_runtime),
            model=named("model", base.model, validate_model),
            allowed_tools=strs("allowed_tools", base.allowed_tools),
            extra_mcp_servers=tuple(servers),
            private_users=private,
            packages=strs("packages", base.packages),
            budget_usd_per_day=_budget(data.get("budget_usd_per_day")),
        )


MAX_BUDGET_USD = 1_000_000.0


def _budget(value: object) -> float | None:
    """``budget_usd_per_day``: absent means no limit; else a number from 0 (no API use at
    all) to a million."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not 0 <= value <= MAX_BUDGET_USD:
        raise ConfigError("settings key budget_usd_per_day must be a number of US dollars "
                          f"from 0 to {MAX_BUDGET_USD:g}, got {str(value)[:40]}")
    return float(value)
