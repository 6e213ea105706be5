"""Configuration: a TOML file, then ``HIVETUI_<SECTION>__<KEY>`` environment overrides.

One pydantic model per section. Every key states its type, its allowed range and what it
is in one line; adding a key is one such line in its section's class::

    max_recv_batch: int = Field(100, ge=1, le=10_000, description="messages per recv")

The rules hold wherever a value comes from: the file (strict: ``"5"`` is not an integer
there), the environment (parsed as JSON scalars: ``5``, ``true``, ``["a"]``), or code that
assigns a key (the command line's flags). A value of the wrong type, outside its range,
nan or infinite, an unknown key or section is refused with one :class:`ConfigError` line
naming the key, its rule and (bounded) the value given. An unreadable or non-UTF-8 file is
refused naming the path. Defaults cover everything: no file is a valid configuration.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import xdg_base_dirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hivetui.core.bounded import quoted
from hivetui.core.errors import ConfigError
from hivetui.core.fieldtypes import ModelName, RuntimeName
from hivetui.core.refusal import explain
from hivetui.terminal.palette import XTERM, Rgb, parse_palette

ENV_PREFIX = "HIVETUI_"
ENV_NESTING = "__"  # HIVETUI_BUS__MAX_RECV_BATCH is bus.max_recv_batch

DAY_S = 86400.0
MIN_LOG_BYTES = 64 * 1024
MIB = 1024 * 1024


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/hivetui`` (a relative ``XDG_STATE_HOME`` is ignored, per XDG)."""
    return xdg_base_dirs.xdg_state_home() / "hivetui"


def default_config_file() -> Path:
    """``$XDG_CONFIG_HOME/hivetui/config.toml`` (a relative value is ignored, per XDG)."""
    return xdg_base_dirs.xdg_config_home() / "hivetui" / "config.toml"


#: the container backends a hive can run on
BackendName = Literal["local", "nixos"]
BACKEND_NAMES: tuple[BackendName, ...] = ("local", "nixos")


class Section(BaseModel):
    """A table of the config file: typed keys, nothing unknown, checked on assignment."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False,
                              validate_assignment=True, validate_default=True)

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, type(self))) from None


class BusConfig(Section):
    """The message bus: sizes, depths and the timing of receives."""

    max_body_bytes: int = Field(64 * 1024, ge=1, le=4 * MIB,
                                description="largest message body, bytes")
    max_inbox_depth: int = Field(1000, ge=1, le=10_000_000,
                                 description="messages waiting in one inbox before sends are "
                                             "refused")
    max_recv_batch: int = Field(100, ge=1, le=10_000,
                                description="most messages one recv returns")
    max_wait_s: float = Field(300.0, gt=0, le=3600,
                              description="longest long-poll of one recv, seconds")
    # A busy inbox (a receive took messages from it less than 100 ms ago): a long-poll woken
    # by a message waits up to this long more (or until `max` are there), so a stream is
    # taken in batches -- fewer calls, one turn for a burst. An idle inbox's long-poll
    # returns the moment a message lands; messages already there go at once.
    recv_linger_ms: float = Field(10.0, ge=0, le=100,
                                  description="extra wait of a busy inbox's recv, "
                                              "milliseconds")
    # a send repeated with the same idempotency key within this many seconds returns the
    # first one's message instead of storing it again (a retry after a lost reply)
    idempotency_window_s: float = Field(600.0, gt=0, le=7 * DAY_S,
                                        description="how long a send's idempotency key is "
                                                    "remembered, seconds")


class BridgeConfig(Section):
    """The agents' MCP endpoint and its per-agent session limits."""

    host: str = Field("127.0.0.1", description="IPv4 address the MCP bridge listens on")
    port: int = Field(0, ge=0, le=65535,
                      description="TCP port; 0: the previous core's if free, else any")
    # per agent (hivetui/bridge/limits.py): one agent's flood of MCP sessions stays its own
    max_sessions_per_agent: int = Field(8, ge=1, le=10_000,
                                        description="MCP sessions one agent holds open; the "
                                                    "least recently used idle one yields")
    new_sessions_per_minute: int = Field(60, ge=1, le=1_000_000,
                                         description="MCP sessions one agent may open per "
                                                     "minute")
    unused_session_s: float = Field(10.0, gt=0, le=DAY_S,
                                    description="a session with no request since the one "
                                                "that opened it ends after this, seconds")
    session_idle_s: float = Field(1800.0, gt=0, le=DAY_S,
                                  description="a used session idle this long ends, seconds")

    @field_validator("host", mode="before")
    @classmethod
    def _ipv4(cls, host: object) -> object:
        try:
            ipaddress.IPv4Address(host if isinstance(host, str) else "")
        except ValueError:
            raise ValueError("must be an IPv4 address such as 127.0.0.1 (the bridge "
                             f"listens on TCP/IPv4), got {quoted(host)}") from None
        return host


class ControlConfig(Section):
    """The operators' control socket, as its clients (ctl, attach) use it."""

    # a spawn that builds a container can take minutes
    timeout_s: float = Field(300.0, gt=0, le=DAY_S,
                             description="how long ctl and attach wait for the core to "
                                         "answer one request, seconds")


class LogsConfig(Section):
    """Log sizes: each log rotates by size (NAME -> NAME.1 -> … NAME.<keep>, the oldest
    dropped)."""

    core_max_bytes: int = Field(10 * MIB, ge=MIN_LOG_BYTES, le=1 << 40,
                                description="<state>/logs/hivetui.log, bytes")
    agent_max_bytes: int = Field(10 * MIB, ge=MIN_LOG_BYTES, le=1 << 40,
                                 description="<state>/logs/agents/<name>.log (local "
                                             "backend), bytes")
    supervisor_max_bytes: int = Field(MIB, ge=MIN_LOG_BYTES, le=1 << 40,
                                      description="each local container's supervisor.log, "
                                                  "bytes")
    keep: int = Field(3, ge=0, le=100, description="rotated files kept per log")


class CrashWatchConfig(Section):
    """How containers are watched and when crashes make a crash loop."""

    interval_s: float = Field(10.0, gt=0, le=3600,
                              description="how often containers are checked, seconds")
    loop_count: int = Field(3, ge=1, le=1_000_000,
                            description="crashes within loop_window_s that make a crash loop")
    loop_window_s: float = Field(300.0, gt=0, le=7 * DAY_S,
                                 description="window a crash loop is counted in, seconds")
    log_lines: int = Field(20, ge=0, le=5000,
                           description="container log lines a crash report carries")
    reconnect_grace_s: float = Field(15.0, ge=0, le=3600,
                                     description="a container re-adopted at start that has "
                                                 "not called the bridge this long is "
                                                 "reported, seconds")


class HarnessConfig(Section):
    """The loop inside each container, and what new agents get."""

    turn_timeout_s: float = Field(1800.0, gt=0, le=7 * DAY_S,
                                  description="longest turn before it is killed, seconds")
    notes_compact_bytes: int = Field(64 * 1024, ge=1024, le=64 * MIB,
                                     description="notes size that triggers compaction, bytes")
    default_model: ModelName = Field("claude-sonnet-4-5", description="model of a new agent")
    default_runtime: RuntimeName = Field("claude", description="runtime of a new agent")
    max_attempts: int = Field(3, ge=1, le=100,
                              description="failed turns per message before it is set aside "
                                          "as dead")
    retry_backoff_s: float = Field(10.0, ge=0, le=3600,
                                   description="wait after a failed turn, doubling while "
                                               "turns fail, seconds")


class ClaudeConfig(Section):
    """The Claude Code CLI the claude runtime runs."""

    bin: str = Field("claude", min_length=1,
                     description="a path, or a name on the core's PATH; made visible in "
                                 "every container")


class AnthropicConfig(Section):
    """Where the core's credential broker forwards, and where the operator's credential is:
    ``key_file`` when set, else ``ANTHROPIC_API_KEY``, else ``CLAUDE_CODE_OAUTH_TOKEN`` in
    the core's own environment. It never enters a container (hivetui/broker)."""

    base_url: str = Field("https://api.anthropic.com", min_length=1, max_length=2000,
                          pattern=r"^https?://\S+$",
                          description="the Anthropic API the credential broker forwards to "
                                      "(an http:// or https:// URL)")
    key_file: str = Field("", description="a file only its owner may read (0600) holding "
                                          "the API key or `claude setup-token` token; empty: "
                                          "the core's environment")


class TelemetryConfig(Section):
    """How long telemetry is kept, raw and downsampled."""

    raw_retention_s: float = Field(48 * 3600.0, gt=0, le=3650 * DAY_S,
                                   description="raw samples kept this long, seconds")
    downsample_bucket_s: float = Field(3600.0, ge=1, le=DAY_S,
                                       description="older samples are summed per bucket of "
                                                   "this many seconds")
    retention_s: float = Field(90 * DAY_S, gt=0, le=3650 * DAY_S,
                               description="downsampled samples kept this long, seconds")


class TranscriptConfig(Section):
    """Turn transcripts kept per agent: the oldest whole turns go past either limit."""

    keep_turns: int = Field(200, ge=1, le=1_000_000, description="turns kept per agent")
    keep_bytes: int = Field(16 * MIB, ge=64 * 1024, le=1 << 40,
                            description="bytes of transcript kept per agent")


class SSHConfig(Section):
    """The operators' SSH server (started by serve --ssh or ssh.listen)."""

    listen: str = Field("", description="HOST:PORT of the SSH server; empty: no SSH")
    authorized_keys: str = Field("", description="OpenSSH authorized_keys file of the "
                                                 "operators")
    max_sessions: int = Field(20, ge=1, le=10_000, description="open sessions at once")
    idle_timeout_s: float = Field(3600.0, ge=0, le=7 * DAY_S,
                                  description="a session idle this long ends (0: never), "
                                              "seconds")
    read_only: list[str] = Field(default_factory=list,
                                 description="operators (key comments) who may only look")
    max_unauthenticated: int = Field(10, ge=1, le=10_000,
                                     description="connections not yet logged in, all "
                                                 "addresses together")
    max_unauthenticated_per_source: int = Field(4, ge=0, le=10_000,
                                                description="of those, from one address "
                                                            "(IPv6: one /64); 0: no "
                                                            "per-address limit")
    login_timeout_s: float = Field(20.0, gt=0, le=600,
                                   description="time from connect to a completed key login, "
                                               "seconds")
    preload_sessions: bool = Field(True, description="fork each session's `hivetui attach` "
                                                     "from a pre-imported zygote")

    @model_validator(mode="after")
    def _per_source_within_total(self) -> SSHConfig:
        if self.max_unauthenticated_per_source > self.max_unauthenticated:
            raise ValueError(
                "ssh.max_unauthenticated_per_source must be 0 (no per-address limit) or from "
                f"1 to ssh.max_unauthenticated ({self.max_unauthenticated}), "
                f"got {self.max_unauthenticated_per_source}")
        return self


class TerminalConfig(Section):
    palette: str = Field("", description="the 16 ANSI colours of the agents' shells: 16 "
                                         "#rrggbb (black, red, green, yellow, blue, magenta, "
                                         "cyan, white, then the bright ones); empty: xterm's")

    @field_validator("palette")
    @classmethod
    def _sixteen_colours(cls, palette: str) -> str:
        if palette.strip():
            parse_palette(palette)  # its ValueError states the rule
        return palette

    def colours(self) -> tuple[Rgb, ...]:
        """The palette as drawn (the UI theme never remaps these)."""
        return parse_palette(self.palette) if self.palette.strip() else XTERM


class HiveConfig(Section):
    """hivetui's config.toml."""

    backend: BackendName = Field("local", description="container backend")
    allow_unisolated: bool = Field(False, description="run agents without namespaces when "
                                                      "isolation is unavailable")
    bus: BusConfig = Field(default_factory=BusConfig)
    bridge: BridgeConfig = Field(default_factory=BridgeConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    crash_watch: CrashWatchConfig = Field(default_factory=CrashWatchConfig)
    harness: HarnessConfig = Field(default_factory=HarnessConfig)
    claude: ClaudeConfig = Field(default_factory=ClaudeConfig)
    anthropic: AnthropicConfig = Field(default_factory=AnthropicConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    transcript: TranscriptConfig = Field(default_factory=TranscriptConfig)
    ssh: SSHConfig = Field(default_factory=SSHConfig)
    terminal: TerminalConfig = Field(default_factory=TerminalConfig)


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Section)


class _FileAndEnvironment(BaseSettings, HiveConfig):
    """HiveConfig from the file's tables with the environment's overrides on top."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTING,
                                      case_sensitive=False, strict=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # the first wins: the environment over the file


def config_schema() -> dict[str, Any]:
    """The JSON schema of config.toml: nix/config-schema.json, which the NixOS module's
    ``settings`` option is built from (``scripts/config-schema`` writes it)."""
    return HiveConfig.model_json_schema()


def load_config(path: Path | None, *, required: bool = False) -> HiveConfig:
    """The config from ``path`` (default: the XDG config file, if it exists) and the
    ``HIVETUI_<SECTION>__<KEY>`` environment."""
    file = path if path is not None else default_config_file()
    data = _read_toml(file, required=required or path is not None)
    _refuse_unknown_sections_in_env()
    try:
        merged = _FileAndEnvironment(**data)
    except ValidationError as exc:
        where = f"config file {file}: " if data else ""
        raise ConfigError(where + _explain(exc, HiveConfig)) from None
    return HiveConfig(**{name: getattr(merged, name) for name in HiveConfig.model_fields})


def _read_toml(file: Path, *, required: bool) -> dict[str, Any]:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {file} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {file} is not UTF-8 text (byte {raw[exc.start]:#04x} "
                          f"at offset {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None


def _refuse_unknown_sections_in_env() -> None:
    """A ``HIVETUI_X__Y`` whose section is unknown would be ignored: refuse it instead."""
    sections = {n for n, f in HiveConfig.model_fields.items() if _is_section(f.annotation)}
    for name in os.environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or ENV_NESTING not in upper:
            continue
        section = upper[len(ENV_PREFIX):].split(ENV_NESTING, 1)[0].lower()
        if section not in sections:
            raise ConfigError(f"environment variable {quoted(name)}: unknown config section "
                              f"{quoted(section)} (known: {', '.join(sorted(sections))})")


def _explain(exc: ValidationError, model: type[BaseModel]) -> str:
    return explain(exc, model, noun="config key", prefix=_section_name(model), origin=_env_name)


def _section_name(model: type[BaseModel]) -> str:
    """The name of ``model``'s section (an assignment's errors are relative to it)."""
    for name, field in HiveConfig.model_fields.items():
        if field.annotation is model:
            return name
    return ""


def _env_name(keys: list[str]) -> str:
    """The environment variable that set ``keys``, if one did."""
    name = ENV_PREFIX + ENV_NESTING.join(keys).upper()
    for present in os.environ:
        if present.upper() == name:
            return present
    return ""
