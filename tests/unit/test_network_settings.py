"""settings.toml's network keys: ``network.allow = ["host:port", …]`` (normalized, checked)
and ``network = "host"``; anything else is refused with the rule."""

from __future__ import annotations

import pytest

from hivetui.core.errors import ConfigError
from hivetui.core.settings import AgentSettings


def test_allow_entries_are_normalized_and_round_trip() -> None:
    s = AgentSettings.from_toml('network.allow = ["GitHub.com:443", "10.0.0.1:80", '
                                '"[::1]:8080", "github.com:443"]\n')
    assert s.network_allow == ("github.com:443", "10.0.0.1:80", "[::1]:8080")
    assert s.host_network is False
    assert AgentSettings.from_toml(s.to_toml()) == s
    assert AgentSettings.checked(s.model_dump(mode="json")) == s


def test_host_network_is_an_explicit_setting() -> None:
    s = AgentSettings.from_toml('network = "host"\n')
    assert s.host_network is True and s.network_allow == ()
    assert 'network = "host"' in s.to_toml()
    assert AgentSettings.from_toml(s.to_toml()) == s
    default = AgentSettings.from_toml("")
    assert default.host_network is False and default.network_allow == ()
    assert "network" not in default.to_toml()


@pytest.mark.parametrize(("text", "rule"), [
    ('network = "hots"', 'must be "host" or a table'),
    ('network = "private"', 'must be "host" or a table'),
    ('network.deny = ["a:1"]', "unknown settings key 'network.deny'"),
    ('network.allow = "a:1"', "network.allow must be a list"),
    ('network.allow = ["github.com"]', 'must be "host:port"'),
    ('network.allow = ["*.github.com:443"]', 'must be "host:port"'),
    ('network.allow = ["https://github.com:443"]', 'must be "host:port"'),
    ('network.allow = ["a:0"]', "from 1 to 65535"),
    ('network.allow = ["a:65536"]', "from 1 to 65535"),
    ('network.allow = [1]', 'network.allow must be a list of strings, got 1'),
    ("network.allow = [" + ", ".join(['"a:1"'] * 257) + "]", "network.allow must be"),
])
def test_bad_network_settings_are_refused(text: str, rule: str) -> None:
    with pytest.raises(ConfigError, match=rule.replace("*", r"\*")) as info:
        AgentSettings.from_toml(text)
    assert len(str(info.value)) < 300
