"""Pure pieces of approvals and config repos: templates, name and runtime checks."""

from __future__ import annotations

import pytest

from hivetui.core.approvals import _check_runtime
from hivetui.core.errors import ApprovalError
from hivetui.core.repos import FILES, default_files
from hivetui.core.settings import AgentSettings, McpServerSpec


def test_default_files_are_the_three_config_files_and_settings_round_trip() -> None:
    settings = AgentSettings(runtime="scripted:echo", model="m \"quoted\"",
                             extra_mcp_servers=(McpServerSpec("x", "/bin/x", ("-v",),
                                                              {"K": "v"}),))
    files = default_files("ann", settings, "worker")
    assert sorted(files) == sorted(FILES)
    assert AgentSettings.from_toml(files["settings.toml"]) == settings
    assert "h-ann" in files["agent.nix"] and files["agent.nix"].count("{") == \
        files["agent.nix"].count("}")
    assert "You are ann, a worker" in files["prompt.md"]


@pytest.mark.parametrize("bad", ["", " ", "two words", "x" * 101, 3, "tab\there"])
def test_runtime_must_be_one_word(bad: object) -> None:
    with pytest.raises(ApprovalError, match="runtime"):
        _check_runtime(bad)


def test_runtime_names_pass() -> None:
    for ok in ("claude", "scripted:echo", "scripted:crash-after:3"):
        assert _check_runtime(ok) == ok
