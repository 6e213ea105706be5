from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_settings_round_trip_with_hostile_strings() -> None:
    # model names have a rule of their own (test_requested_names.py); the rest is free text
    s = AgentSettings(model="m[1m]", allowed_tools=("Bash(git *)", 'Read("q")'),
                      extra_mcp_servers=(McpServerSpec(name="x", command="/bin/x",
                                                       args=("-a", "é"), env={"K": "v\"1"}),))
    assert AgentSettings.from_toml(s.to_toml()) == s
    with pytest.raises(ConfigError, match="reserved"):
        AgentSettings.checked({"mcp_servers": [{"name": "hive", "command": "x"}]})


@pytest.mark.parametrize(("text", "message"), [
    ('private_users = "yes"', "settings key private_users must be true or false, got 'yes'"),
    ('allowed_tools = "Read"', "settings key allowed_tools must be a list of strings, got "
                               "'Read'"),
    ("packages = [1]", "settings key packages must be a list of strings, got 1"),
    ("foo = 1", "unknown settings key 'foo' (known here: allowed_tools, budget_usd_per_day, "
                "mcp_servers, model, network, packages, private_users, runtime)"),
    ('[[mcp_servers]]\nname = "x"', "settings key mcp_servers[0].command is required: "
                                    "non-empty text"),
    ('[[mcp_servers]]\nname = "hive"\ncommand = "x"',
     "settings key mcp_servers[0].name: the name 'hive' is reserved for the hive bridge"),
    ('[[mcp_servers]]\nname = "x"\ncommand = "x"\nenv = { K = 1 }',
     "settings key mcp_servers[0].env must be a table of strings, got 1"),
    ("mcp_servers = 3", "settings key mcp_servers must be an array of tables, got 3"),
    ("runtime = 3", "settings key runtime: unknown runtime int: the runtime must be"),
])
def test_settings_refusals_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        AgentSettings.from_toml(text + "\n")
    assert message in str(err.value)
