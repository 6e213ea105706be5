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

from hivetui.core.errors import ConfigError


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


@dataclass
class BridgeConfig:
    host: str = "127.0.0.1"
    # 0: the previous core's port (from <state>/run/bridge.json) if free, else any free one
    port: int = 0


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


@dataclass
class TelemetryConfig:
    raw_retention_s: float = 48 * 3600.0
    downsample_bucket_s: float = 3600.0
    retention_s: float = 90 * 86400.0


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
    crash_watch: CrashWatchConfig = field(default_factory=CrashWatchConfig)
    harness: HarnessConfig = field(default_factory=HarnessConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
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
    if cfg.crash_watch.interval_s <= 0:
        raise ConfigError("crash_watch.interval_s must be positive")
    if not 0 <= cfg.bridge.port <= 65535:
        raise ConfigError("bridge.port must be between 0 and 65535")
    cfg.ssh.validate()
