"""Pure pieces of approvals and config repos: templates, name and runtime checks."""

from __future__ import annotations

import pytest

from hivetui.core.errors import NameError_
from hivetui.core.names import validate_runtime
from hivetui.core.repos import FILES, default_files
from hivetui.core.settings import AgentSettings, McpServerSpec


def test_default_files_are_the_three_config_files_and_settings_round_trip() -> None:
    settings = AgentSettings(runtime="scripted:echo", model="m/odel:v1[1m]",
                             extra_mcp_servers=(McpServerSpec(name="x", command="/bin/x",
                                                              args=("-v",), env={"K": "v"}),))
    files = default_files("ann", settings, "worker")
    assert sorted(files) == sorted(FILES)
    assert AgentSettings.from_toml(files["settings.toml"]) == settings
    assert "h-ann" in files["agent.nix"] and files["agent.nix"].count("{") == \
        files["agent.nix"].count("}")
    assert "You are ann, a worker" in files["prompt.md"]


@pytest.mark.parametrize("bad", ["", " ", "two words", "x" * 101, 3, "tab\there", "bash",
                                 "scripted:nope", "scripted:crash-after:0", "claude\x00"])
def test_runtime_must_be_a_known_one(bad: object) -> None:
    with pytest.raises(NameError_, match="runtime"):
        validate_runtime(bad)


def test_runtime_names_pass() -> None:
    for ok in ("claude", "scripted:echo", "scripted:crash-after:3"):
        assert validate_runtime(ok) == ok
