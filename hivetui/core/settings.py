"""An agent's settings: what its config repo's ``settings.toml`` holds.

Network: by default a container has a network namespace of its own (loopback only) and
reaches the outside through the core's egress proxy, which lets through only
``network.allow = ["host:port", …]``. ``network = "host"`` (the host's own network, no
proxy, nothing denied) is an explicit exception the approval diff and the fleet flag.
"""

from __future__ import annotations

import json
import re
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


#: the only string value of ``network``: the host's own network (flagged wherever shown)
HOST_NETWORK = "host"
#: ``network.allow`` entries: a DNS name, an IPv4 address or a [bracketed] IPv6 address,
#: then a port; nothing else (no wildcard, no scheme, no path)
_ALLOW_ENTRY = re.compile(
    r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]"
    r"{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\]):(?P<port>[0-9]{1,5})$")
MAX_ALLOW_ENTRIES = 256


def normalize_allow(entry: object) -> str:
    """``host:port`` in the form the egress proxy compares (host lower-case); refuses
    anything else with the rule."""
    shown = repr(entry)[:80]
    if not isinstance(entry, str) or len(entry) > 300:
        raise ConfigError(f"settings key network.allow: {shown} is not a \"host:port\" string")
    match = _ALLOW_ENTRY.match(entry)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ConfigError(f"settings key network.allow: {shown} must be \"host:port\" (a DNS "
                          "name, IPv4 or [IPv6] address, and a port from 1 to 65535)")
    return f"{match['host'].lower()}:{int(match['port'])}"


def _network(value: object) -> tuple[bool, tuple[str, ...]]:
    """(host network?, allow list) from the ``network`` key of settings.toml."""
    if value is None:
        return False, ()
    if value == HOST_NETWORK:
        return True, ()
    if not isinstance(value, dict) or set(value) - {"allow"}:
        raise ConfigError('settings key network must be "host" or a table holding only '
                          'allow = ["host:port", …]')
    allow = value.get("allow", [])
    if not isinstance(allow, list) or len(allow) > MAX_ALLOW_ENTRIES:
        raise ConfigError(f"settings key network.allow must be a list of at most "
                          f"{MAX_ALLOW_ENTRIES} \"host:port\" strings")
    return False, tuple(dict.fromkeys(normalize_allow(e) for e in allow))


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
    #: the host's network instead of a namespace of its own (``network = "host"``)
    host_network: bool = False
    #: what the egress proxy lets through (``network.allow``), as ``host:port``
    network_allow: tuple[str, ...] = ()

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
            "network": self._network_value(),
        }

    def _network_value(self) -> str | dict[str, list[str]]:
        return HOST_NETWORK if self.host_network else {"allow": list(self.network_allow)}

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
        if self.host_network:
            lines.append(f"network = {q(HOST_NETWORK)}")
        elif self.network_allow:
            lines.append("network.allow = [" + ", ".join(q(a) for a in self.network_allow) + "]")
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
                 "network"}
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
        host_network, allow = _network(data.get("network"))
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
            host_network=host_network,
            network_allow=allow,
        )
