from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hivetui.core.config import HiveConfig, load_config
from hivetui.core.errors import ConfigError, NameError_
from hivetui.core.names import NAME_RULE, validate_agent_name
from hivetui.core.settings import AgentSettings, McpServerSpec


@pytest.mark.parametrize("name", ["a", "worker-1", "abcdefghi", "m0"])
def test_valid_names(name: str) -> None:
    assert validate_agent_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "1abc", "abcdefghij", "a_b", "a.b", "wörker",
                                  "operator", "system", " a"])
def test_invalid_names_state_the_rule(name: str) -> None:
    with pytest.raises(NameError_) as err:
        validate_agent_name(name)
    assert NAME_RULE in str(err.value) or "reserved" in str(err.value)


@given(st.text(max_size=30))
def test_names_never_crash(name: str) -> None:
    try:
        assert validate_agent_name(name) == name
        assert len("h-" + name) <= 11
    except NameError_ as exc:
        assert str(exc)


def test_config_defaults_when_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_config(None) == HiveConfig()


def test_config_reads_and_refuses_typos(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[bus]\nmax_inbox_depth = 5\n[crash_watch]\ninterval_s = 2\n")
    cfg = load_config(f)
    assert cfg.bus.max_inbox_depth == 5 and cfg.crash_watch.interval_s == 2.0
    f.write_text("[bus]\nmax_inbox_dept = 5\n")
    with pytest.raises(ConfigError, match="unknown config key 'bus.max_inbox_dept'"):
        load_config(f)
    f.write_text("[bus]\nmax_inbox_depth = 'x'\n")
    with pytest.raises(ConfigError, match="must be int"):
        load_config(f)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_settings_round_trip_with_hostile_strings() -> None:
    # model names have a rule of their own (test_requested_names.py); the rest is free text
    s = AgentSettings(model="m[1m]", allowed_tools=("Bash(git *)", 'Read("q")'),
                      extra_mcp_servers=(McpServerSpec("x", "/bin/x", ("-a", "é"),
                                                       {"K": "v\"1"}),))
    assert AgentSettings.from_toml(s.to_toml()) == s
    with pytest.raises(ConfigError, match="reserved"):
        AgentSettings.from_dict({"mcp_servers": [{"name": "hive", "command": "x"}]})


def test_recv_linger_is_bounded(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[bus]\nrecv_linger_ms = 0\n")
    assert load_config(f).bus.recv_linger_ms == 0
    for bad in ("-1", "250"):
        f.write_text(f"[bus]\nrecv_linger_ms = {bad}\n")
        with pytest.raises(ConfigError, match=r"bus.recv_linger_ms must be from 0 to 100"):
            load_config(f)
