"""Configuration from TOML with a default for everything.

Unknown sections or keys and wrongly typed values are refused with a clear error
naming the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hivetui.core.errors import ConfigError, NameError_
from hivetui.core.names import validate_model, validate_runtime


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hivetui"


def default_config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hivetui" / "config.toml"


@dataclass
class BusConfig:
    max_body_bytes: int = 64 * 1024
    max_inbox_depth: int = 1000
    max_recv_batch: int = 100
    max_wait_s: float = 300.0
    # A busy inbox (a receive took messages from it less than 100 ms ago): a long-poll
    # woken by a message waits up to this long more (or until `max` are there), so a stream
    # is taken in batches -- fewer calls, one turn for a burst. An idle inbox's long-poll
    # returns the moment a message lands; messages already there go at once.
    recv_linger_ms: float = 10.0
    # a send repeated with the same idempotency key within this many seconds returns the
    # first one's message instead of storing it again (a retry after a lost reply)
    idempotency_window_s: float = 600.0


@dataclass
class BridgeConfig:
    host: str = "127.0.0.1"
    # 0: the previous core's port (from <state>/run/bridge.json) if free, else any free one
    port: int = 0
    # per agent (hivetui/bridge/limits.py): one agent's flood of MCP sessions stays its own
    max_sessions_per_agent: int = 8  # open at once; the least recently used idle one yields
    new_sessions_per_minute: int = 60
    unused_session_s: float = 10.0  # no request since the one that opened it: ended
    session_idle_s: float = 1800.0  # in use, then idle this long: ended (the SDK's timeout)

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("bridge.port must be between 0 and 65535")
        for key in ("max_sessions_per_agent", "new_sessions_per_minute"):
            if getattr(self, key) < 1:
                raise ConfigError(f"bridge.{key} must be at least 1, got {getattr(self, key)}")
        for key in ("unused_session_s", "session_idle_s"):
            value = getattr(self, key)
            if not 0 < value <= 86400:
                raise ConfigError(f"bridge.{key} must be more than 0 and at most 86400 "
                                  f"(seconds), got {value}")


@dataclass
class ControlConfig:
    # how long `hivetui ctl` and `attach` wait for the core to answer one request before
    # they give up and name it (a spawn that builds a container can take minutes)
    timeout_s: float = 300.0


@dataclass
class LogsConfig:
    # each log rotates by size (NAME -> NAME.1 -> … NAME.<keep>, the oldest dropped)
    core_max_bytes: int = 10 * 1024 * 1024  # <state>/logs/hivetui.log
    agent_max_bytes: int = 10 * 1024 * 1024  # <state>/logs/agents/<name>.log (local backend)
    supervisor_max_bytes: int = 1024 * 1024  # each local container's supervisor.log
    keep: int = 3

    def validate(self) -> None:
        for key in ("core_max_bytes", "agent_max_bytes", "supervisor_max_bytes"):
            value = getattr(self, key)
            if value < MIN_LOG_BYTES:
                raise ConfigError(f"logs.{key} must be at least {MIN_LOG_BYTES} (bytes), "
                                  f"got {value}")
        if not 0 <= self.keep <= 100:
            raise ConfigError(f"logs.keep must be from 0 to 100 (rotated files), got {self.keep}")


MIN_LOG_BYTES = 64 * 1024


@dataclass
class CrashWatchConfig:
    interval_s: float = 10.0
    loop_count: int = 3
    loop_window_s: float = 300.0
    log_lines: int = 20
    # a container re-adopted at start that has not called the bridge this long is reported
    reconnect_grace_s: float = 15.0


@dataclass
class HarnessConfig:
    turn_timeout_s: float = 1800.0
    notes_compact_bytes: int = 64 * 1024
    default_model: str = "claude-sonnet-4-5"
    default_runtime: str = "claude"
    max_attempts: int = 3  # failed turns per message before it is set aside as dead
    retry_backoff_s: float = 10.0  # wait after a failed turn, doubling while turns fail


@dataclass
class ClaudeConfig:
    bin: str = "claude"  # a path, or a name on the core's PATH; passed into every container


@dataclass
class TelemetryConfig:
    raw_retention_s: float = 48 * 3600.0
    downsample_bucket_s: float = 3600.0
    retention_s: float = 90 * 86400.0


@dataclass
class TranscriptConfig:
    # per agent: the oldest whole turns go once either limit is passed
    keep_turns: int = 200
    keep_bytes: int = 16 * 1024 * 1024

    def validate(self) -> None:
        if not 1 <= self.keep_turns <= 1_000_000:
            raise ConfigError("transcript.keep_turns must be from 1 to 1000000 (turns kept "
                              f"per agent), got {self.keep_turns}")
        if not 64 * 1024 <= self.keep_bytes <= 1 << 40:
            raise ConfigError("transcript.keep_bytes must be from 65536 to 2**40 (bytes kept "
                              f"per agent), got {self.keep_bytes}")


@dataclass
class SSHConfig:
    listen: str = ""
    authorized_keys: str = ""
    max_sessions: int = 20
    idle_timeout_s: float = 3600.0
    read_only: list[str] = field(default_factory=list)
    max_unauthenticated: int = 10  # connections not yet logged in, all addresses together
    max_unauthenticated_per_source: int = 4  # of those, from one address (IPv6: one /64)
    login_timeout_s: float = 20.0  # time allowed from connect to a completed key login
    preload_sessions: bool = True  # fork each session's `hivetui attach` from a zygote

    def validate(self) -> None:
        if self.max_unauthenticated < 1:
            raise ConfigError("ssh.max_unauthenticated must be at least 1, "
                              f"got {self.max_unauthenticated}")
        if not 0 <= self.max_unauthenticated_per_source <= self.max_unauthenticated:
            raise ConfigError("ssh.max_unauthenticated_per_source must be 0 (no per-address "
                              "limit) or from 1 to ssh.max_unauthenticated "
                              f"({self.max_unauthenticated}), "
                              f"got {self.max_unauthenticated_per_source}")
        if not 0 < self.login_timeout_s <= 600:
            raise ConfigError("ssh.login_timeout_s must be more than 0 and at most 600 "
                              f"(seconds), got {self.login_timeout_s:g}")


@dataclass
class HiveConfig:
    backend: str = "local"
    allow_unisolated: bool = False
    bus: BusConfig = field(default_factory=BusConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    crash_watch: CrashWatchConfig = field(default_factory=CrashWatchConfig)
    harness: HarnessConfig = field(default_factory=HarnessConfig)
    claude: ClaudeConfig = field(default_factory=ClaudeConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    transcript: TranscriptConfig = field(default_factory=TranscriptConfig)
    ssh: SSHConfig = field(default_factory=SSHConfig)


def _coerce(path: str, expected: Any, value: Any) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list or (getattr(expected, "__origin__", None) is list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config key {path} must be a list of strings")
        return list(value)
    if isinstance(expected, type) and not isinstance(value, expected):
        raise ConfigError(
            f"config key {path} must be {expected.__name__}, got {type(value).__name__}"
        )
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"config key {path} must be int, got bool")
    return value


def _apply(obj: Any, data: dict[str, Any], prefix: str) -> None:
    hints = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(f"unknown config key {path!r} (known here: {known})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {path} must be a table")
            _apply(current, value, path + ".")
            continue
        expected: Any = type(current)
        setattr(obj, key, _coerce(path, expected, value))


def load_config(path: Path | None, *, required: bool = False) -> HiveConfig:
    """Load the config from ``path`` (default: the XDG config file, if it exists)."""
    cfg = HiveConfig()
    file = path if path is not None else default_config_file()
    if not file.exists():
        if required or path is not None:
            raise ConfigError(f"config file {file} does not exist")
        return cfg
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}") from exc
    _apply(cfg, data, "")
    validate_config(cfg)
    return cfg


def validate_config(cfg: HiveConfig) -> None:
    if cfg.backend not in ("local", "nixos"):
        raise ConfigError(f"backend must be 'local' or 'nixos', got {cfg.backend!r}")
    if cfg.bus.max_body_bytes <= 0 or cfg.bus.max_inbox_depth <= 0:
        raise ConfigError("bus.max_body_bytes and bus.max_inbox_depth must be positive")
    if not 0 <= cfg.bus.recv_linger_ms <= 100:
        raise ConfigError("bus.recv_linger_ms must be from 0 to 100 (milliseconds), "
                          f"got {cfg.bus.recv_linger_ms}")
    if not 0 < cfg.bus.idempotency_window_s <= 7 * 86400:
        raise ConfigError("bus.idempotency_window_s must be more than 0 and at most 604800 "
                          f"(seconds), got {cfg.bus.idempotency_window_s:g}")
    if not 1 <= cfg.harness.max_attempts <= 100:
        raise ConfigError("harness.max_attempts must be from 1 to 100 (failed turns per "
                          f"message before it is set aside), got {cfg.harness.max_attempts}")
    if not 0 <= cfg.harness.retry_backoff_s <= 3600:
        raise ConfigError("harness.retry_backoff_s must be from 0 to 3600 (seconds after a "
                          f"failed turn), got {cfg.harness.retry_backoff_s:g}")
    if cfg.crash_watch.interval_s <= 0:
        raise ConfigError("crash_watch.interval_s must be positive")
    cfg.bridge.validate()
    for key, check in (("default_runtime", validate_runtime), ("default_model", validate_model)):
        try:
            check(getattr(cfg.harness, key))
        except NameError_ as exc:
            raise ConfigError(f"harness.{key}: {exc.message}") from exc
    if not 0 < cfg.control.timeout_s <= 86400:
        raise ConfigError("control.timeout_s must be more than 0 and at most 86400 (seconds), "
                          f"got {cfg.control.timeout_s:g}")
    cfg.logs.validate()
    cfg.ssh.validate()
    cfg.transcript.validate()
