"""An agent's settings: what its config repo's ``settings.toml`` holds, checked by
pydantic models (one per table) that refuse unknown keys and wrong types naming the key.

Network: by default a container has a network namespace of its own (loopback only) and
reaches the outside through the core's egress proxy, which lets through only
``network.allow = ["host:port", …]``. ``network = "host"`` (the host's own network, no
proxy, nothing denied) is an explicit exception the approval diff and the fleet flag.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_serializer,
    field_validator,
)

from hivetui.core.errors import ConfigError
from hivetui.core.fieldtypes import ModelName, RuntimeName
from hivetui.core.names import validate_model
from hivetui.core.refusal import explain

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
    """``host:port`` in the form the egress proxy compares (host lower-case); anything else
    is a ``ValueError`` stating the rule."""
    shown = repr(entry)[:80]
    if not isinstance(entry, str) or len(entry) > 300:
        raise ValueError(f"{shown} is not a \"host:port\" string")
    match = _ALLOW_ENTRY.match(entry)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f"{shown} must be \"host:port\" (a DNS name, IPv4 or [IPv6] address, "
                         "and a port from 1 to 65535)")
    return f"{match['host'].lower()}:{int(match['port'])}"


class NetworkSettings(BaseModel):
    """The ``network`` table (or ``network = "host"``, read as ``host = true``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: StrictBool = Field(False, description='the host\'s own network: network = "host"')
    allow: tuple[StrictStr, ...] = Field(
        (), max_length=MAX_ALLOW_ENTRIES,
        description='"host:port" targets the egress proxy lets through')

    @field_validator("allow")
    @classmethod
    def _host_ports(cls, allow: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalize_allow(entry) for entry in allow))


class McpServerSpec(BaseModel):
    """An extra MCP server an agent brings (stdio: command, args, env)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: StrictStr = Field(min_length=1, description="its tools are mcp__<name>__<tool>")
    command: StrictStr = Field(min_length=1, description="the program, run in the container")
    args: tuple[StrictStr, ...] = ()
    env: dict[StrictStr, StrictStr] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_the_bridge(cls, name: str) -> str:
        if name == "hive":
            raise ValueError("the name 'hive' is reserved for the hive bridge")
        return name


class AgentSettings(BaseModel):
    """settings.toml, as checked: unknown keys and wrongly typed values are refused naming
    the key. ``model_dump()`` is its JSON form (agent.json), ``to_toml()`` its file."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)

    runtime: RuntimeName = "claude"
    model: ModelName = "claude-sonnet-4-5"
    allowed_tools: tuple[StrictStr, ...] = DEFAULT_ALLOWED_TOOLS
    extra_mcp_servers: tuple[McpServerSpec, ...] = Field((), alias="mcp_servers")
    private_users: StrictBool = True
    packages: tuple[StrictStr, ...] = ()
    budget_usd_per_day: float | None = Field(
        None, ge=0, le=1_000_000, strict=True, allow_inf_nan=False,
        description="what the agent's API use may cost per UTC day, in US dollars, "
                    "reckoned by the core's credential broker; absent: no limit")
    network: NetworkSettings = Field(
        default_factory=NetworkSettings,
        description='"host" or a table with allow = ["host:port", …]')

    @field_validator("network", mode="before")
    @classmethod
    def _network_form(cls, value: object) -> object:
        if value == HOST_NETWORK:
            return {"host": True}
        if isinstance(value, dict | NetworkSettings):
            return value
        raise ValueError('settings key network must be "host" or a table holding '
                         'allow = ["host:port", …]')

    @field_serializer("network")
    def _network_as_written(self, network: NetworkSettings) -> Any:
        return HOST_NETWORK if network.host else {"allow": list(network.allow)}

    @property
    def host_network(self) -> bool:
        """The host's own network instead of a namespace of its own (flagged)."""
        return self.network.host

    @property
    def network_allow(self) -> tuple[str, ...]:
        """What the egress proxy lets through, as ``host:port``."""
        return self.network.allow

    def with_model(self, model: str) -> AgentSettings:
        return self.model_copy(update={"model": validate_model(model)})

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
        return cls.checked(data)

    @classmethod
    def checked(cls, data: object) -> AgentSettings:
        """``data`` (settings.toml's tables, or agent.json's ``settings``) as settings."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(explain(exc, cls, noun="settings key")) from None

