"""An agent's settings: what its config repo's ``settings.toml`` holds, checked by
pydantic models (one per table) that refuse unknown keys and wrong types naming the key."""

from __future__ import annotations

import json
import tomllib

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
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

