"""The configuration's rules: every key refuses a wrong type and an out-of-range value with
one line naming the key (and the rule); files that cannot be read are refused naming the
path; ``HIVETUI_<SECTION>__<KEY>`` overrides the file under the same rules; XDG paths."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from hivetui.core.config import (
    HiveConfig,
    default_config_file,
    default_state_dir,
    load_config,
)
from hivetui.core.errors import ConfigError

# key, a good value (not the default), a value of a wrong type, a value outside the key's
# range (None: any value of the type is allowed), and the rule the refusal must state.
# A new key needs a row here: test_the_table_covers_every_key fails until it has one.
TABLE: list[tuple[str, str, str, str | None, str]] = [
    ("backend", '"nixos"', "1", '"docker"', "one of 'local', 'nixos'"),
    ("allow_unisolated", "true", '"yes"', None, "true or false"),
    ("bus.max_body_bytes", "100", '"100"', "0", "an integer from 1 to 4194304"),
    ("bus.max_inbox_depth", "5", "5.0", "0", "an integer from 1 to 10000000"),
    ("bus.max_recv_batch", "7", "true", "0", "an integer from 1 to 10000"),
    ("bus.max_wait_s", "60", '"60"', "0", "a finite number more than 0 and at most 3600"),
    ("bus.recv_linger_ms", "0", "[]", "101", "a finite number from 0 to 100"),
    ("bus.idempotency_window_s", "30.5", "false", "604801",
     "a finite number more than 0 and at most 604800"),
    ("bridge.host", '"127.0.0.2"', "127", '"::1"', "must be an IPv4 address"),
    ("bridge.port", "8123", '"8123"', "65536", "an integer from 0 to 65535"),
    ("bridge.max_sessions_per_agent", "2", "2.5", "0", "an integer from 1 to 10000"),
    ("bridge.new_sessions_per_minute", "100000", '"x"', "0", "an integer from 1 to 1000000"),
    ("bridge.unused_session_s", "0.5", '"0.5"', "0",
     "a finite number more than 0 and at most 86400"),
    ("bridge.session_idle_s", "60", "{}", "86401",
     "a finite number more than 0 and at most 86400"),
    ("control.timeout_s", "5", '"5"', "-1", "a finite number more than 0 and at most 86400"),
    ("logs.core_max_bytes", "65536", '"1M"', "65535", "an integer from 65536 to 1099511627776"),
    ("logs.agent_max_bytes", "1048576", "1.5", "1", "an integer from 65536 to 1099511627776"),
    ("logs.supervisor_max_bytes", "131072", "true", "0",
     "an integer from 65536 to 1099511627776"),
    ("logs.keep", "0", '"3"', "101", "an integer from 0 to 100"),
    ("crash_watch.interval_s", "0.5", '"10"', "0",
     "a finite number more than 0 and at most 3600"),
    ("crash_watch.loop_count", "10000", "3.0", "0", "an integer from 1 to 1000000"),
    ("crash_watch.loop_window_s", "60", "true", "-5",
     "a finite number more than 0 and at most 604800"),
    ("crash_watch.log_lines", "0", '"20"', "5001", "an integer from 0 to 5000"),
    ("crash_watch.reconnect_grace_s", "0", "[1]", "-1", "a finite number from 0 to 3600"),
    ("harness.turn_timeout_s", "60", '"60"', "-1",
     "a finite number more than 0 and at most 604800"),
    ("harness.notes_compact_bytes", "4096", "4096.0", "1023", "an integer from 1024 to 67108864"),
    ("harness.default_model", '"claude-opus-4"', "4", '"two words"', "a model name is"),
    ("harness.default_runtime", '"scripted:echo"', "true", '""', "the runtime must be"),
    ("harness.max_attempts", "5", '"5"', "0", "an integer from 1 to 100"),
    ("harness.retry_backoff_s", "0", '"1"', "3601", "a finite number from 0 to 3600"),
    ("claude.bin", '"/opt/claude"', "1", '""', "non-empty text"),
    ("telemetry.raw_retention_s", "3600", '"1h"', "0",
     "a finite number more than 0 and at most 315360000"),
    ("telemetry.downsample_bucket_s", "60", "false", "0.5", "a finite number from 1 to 86400"),
    ("telemetry.retention_s", "86400", "[]", "0",
     "a finite number more than 0 and at most 315360000"),
    ("ssh.listen", '"127.0.0.1:2222"', "2222", None, "text"),
    ("ssh.authorized_keys", '"/etc/keys"', "false", None, "text"),
    ("ssh.max_sessions", "2", '"2"', "0", "an integer from 1 to 10000"),
    ("ssh.idle_timeout_s", "0", '"0"', "-1", "a finite number from 0 to 604800"),
    ("ssh.read_only", '["dave"]', '"dave"', None, "a list of strings"),
    ("ssh.max_unauthenticated", "5", "5.5", "0", "an integer from 1 to 10000"),
    ("ssh.max_unauthenticated_per_source", "0", '"0"', "-1", "an integer from 0 to 10000"),
    ("ssh.login_timeout_s", "5", '"5"', "601", "a finite number more than 0 and at most 600"),
    ("ssh.preload_sessions", "false", "0", None, "true or false"),
]


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every key of ``model`` with its annotation, sections walked into."""
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.update(_leaf_keys(annotation, f"{prefix}{name}."))
        else:
            keys[prefix + name] = annotation
    return keys


def _toml(key: str, value: str) -> str:
    section, _, name = key.rpartition(".")
    return (f"[{section}]\n" if section else "") + f"{name} = {value}\n"


def _value(cfg: BaseModel, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


def test_the_table_covers_every_key() -> None:
    assert [row[0] for row in TABLE] == list(_leaf_keys(HiveConfig))


@pytest.mark.parametrize(("key", "good", "bad_type", "out_of_range", "rule"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_every_key(tmp_path: Path, key: str, good: str, bad_type: str,
                   out_of_range: str | None, rule: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(_toml(key, good))
    parsed = tomllib.loads(_toml(key, good))
    for part in key.split("."):
        parsed = parsed[part]
    assert _value(load_config(path), key) == parsed != _value(HiveConfig(), key)

    message = _refusal(tmp_path, _toml(key, bad_type))
    assert f"config key {key}" in message and rule in message, message
    assert message.count("\n") == 0 and str(path) in message

    if out_of_range is not None:
        message = _refusal(tmp_path, _toml(key, out_of_range))
        assert f"config key {key}" in message and rule in message, message


FLOAT_KEYS = [k for k, annotation in _leaf_keys(HiveConfig).items() if annotation is float]


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_no_interval_is_nan_or_infinite(tmp_path: Path, key: str, value: str) -> None:
    message = _refusal(tmp_path, _toml(key, value))
    assert f"config key {key} must be a finite number" in message, message


def test_the_issue_values_are_refused(tmp_path: Path) -> None:
    for text, key in (("[bus]\nmax_recv_batch = 0", "bus.max_recv_batch"),
                      ("[harness]\nturn_timeout_s = -1", "harness.turn_timeout_s"),
                      ("[crash_watch]\nloop_count = 0", "crash_watch.loop_count"),
                      ('[harness]\ndefault_runtime = ""', "harness.default_runtime")):
        assert f"config key {key}" in _refusal(tmp_path, text)


def test_a_rule_across_keys_names_both(tmp_path: Path) -> None:
    message = _refusal(tmp_path, "[ssh]\nmax_unauthenticated = 3\n"
                                 "max_unauthenticated_per_source = 4\n")
    assert ("ssh.max_unauthenticated_per_source must be 0 (no per-address limit) or from 1 "
            "to ssh.max_unauthenticated (3), got 4") in message


def test_unknown_keys_and_sections_are_refused(tmp_path: Path) -> None:
    assert "unknown config key 'bus.max_inbox_dept' (known here: idempotency_window_s," in \
        _refusal(tmp_path, "[bus]\nmax_inbox_dept = 5\n")
    assert "unknown config key 'buss'" in _refusal(tmp_path, "[buss]\nx = 1\n")
    assert "config key bus must be a table" in _refusal(tmp_path, "bus = 5\n")


def test_a_huge_bad_value_is_echoed_bounded(tmp_path: Path) -> None:
    message = _refusal(tmp_path, f'[bus]\nmax_recv_batch = "{"x" * 100_000}"\n')
    assert len(message) < 500 and "(100000 chars)" in message


def test_an_assignment_is_held_to_the_rules() -> None:
    cfg = HiveConfig()
    cfg.crash_watch.interval_s = 2  # an integer is a number of seconds too
    assert cfg.crash_watch.interval_s == 2.0
    with pytest.raises(ConfigError, match=r"config key crash_watch.interval_s must be a finite "
                                          r"number more than 0 and at most 3600, got -1"):
        cfg.crash_watch.interval_s = -1
    with pytest.raises(ConfigError, match="config key backend must be one of"):
        cfg.backend = "docker"  # type: ignore[assignment]
    assert cfg.crash_watch.interval_s == 2.0 and cfg.backend == "local"


# --- files ------------------------------------------------------------------------------
def test_a_file_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[claude]\nbin = "caf\xe9"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (f"config file {path} is not UTF-8 text (byte 0xe9 at offset "
                              "19)")


def test_an_unreadable_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)  # a directory
    assert str(err.value) == f"cannot read config file {tmp_path}: Is a directory"
    with pytest.raises(ConfigError, match=f"config file {tmp_path / 'none.toml'} does not "
                                          "exist"):
        load_config(tmp_path / "none.toml")
    path = tmp_path / "bad.toml"
    path.write_text("[bus\n")
    with pytest.raises(ConfigError, match=f"config file {path} is not valid TOML"):
        load_config(path)


def test_no_file_at_the_default_place_is_the_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_config(None) == HiveConfig()


# --- the environment --------------------------------------------------------------------
def test_the_environment_overrides_the_file(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[bus]\nmax_recv_batch = 5\nmax_inbox_depth = 9\n")
    monkeypatch.setenv("HIVETUI_BUS__MAX_RECV_BATCH", "7")
    monkeypatch.setenv("hivetui_ssh__read_only", '["dave", "erin"]')
    monkeypatch.setenv("HIVETUI_SSH__PRELOAD_SESSIONS", "false")
    monkeypatch.setenv("HIVETUI_CRASH_WATCH__INTERVAL_S", "2.5")
    monkeypatch.setenv("HIVETUI_BACKEND", "nixos")
    cfg = load_config(path)
    assert (cfg.bus.max_recv_batch, cfg.bus.max_inbox_depth) == (7, 9)
    assert (cfg.ssh.read_only, cfg.ssh.preload_sessions) == (["dave", "erin"], False)
    assert (cfg.crash_watch.interval_s, cfg.backend) == (2.5, "nixos")


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("HIVETUI_BUS__MAX_RECV_BATCH", "0",
     "config key bus.max_recv_batch (from HIVETUI_BUS__MAX_RECV_BATCH) must be an integer "
     "from 1 to 10000, got 0"),
    ("HIVETUI_CRASH_WATCH__INTERVAL_S", "nan",
     "config key crash_watch.interval_s (from HIVETUI_CRASH_WATCH__INTERVAL_S) must be a "
     "finite number"),
    ("HIVETUI_BUS__MAX_INBOX_DEPT", "5",
     "unknown config key 'bus.max_inbox_dept' (from HIVETUI_BUS__MAX_INBOX_DEPT)"),
    ("HIVETUI_BUSS__MAX_RECV_BATCH", "5",
     "environment variable 'HIVETUI_BUSS__MAX_RECV_BATCH': unknown config section 'buss'"),
])
def test_a_bad_environment_value_is_refused_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str,
        expected: str) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_config(None)
    assert expected in str(err.value)


def test_other_hivetui_variables_are_not_config(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("HIVETUI_CLAUDE_BIN", "/elsewhere/claude")  # the harness's, not claude.bin
    assert load_config(None) == HiveConfig()


# --- XDG --------------------------------------------------------------------------------
def test_a_relative_xdg_dir_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")
    assert default_state_dir() == tmp_path / ".local" / "state" / "hivetui"
    assert default_config_file() == tmp_path / ".config" / "hivetui" / "config.toml"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    assert default_state_dir() == tmp_path / "s" / "hivetui"


def test_defaults_pass_their_own_rules() -> None:
    assert HiveConfig.model_validate(HiveConfig().model_dump()) == HiveConfig()
