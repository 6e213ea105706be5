"""A bridge.host the bridge cannot listen on is named at once, not after a 10 s wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from hivetui.core.config import BridgeConfig, HiveConfig
from hivetui.core.errors import BridgeError, ConfigError
from hivetui.node import HiveNode


async def test_an_address_of_no_interface_is_named(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1, RFC 5737) is a well-formed address no interface here has
    cfg = HiveConfig(bridge=BridgeConfig(host="192.0.2.1"))
    with pytest.raises(BridgeError) as err:
        async with HiveNode(tmp_path / "state", cfg, containers=False):
            pass
    # the bridge or the credential broker (both listen on bridge.host), whichever is first
    assert "cannot listen on 192.0.2.1:0 (bridge.host" in str(err.value), err.value


def test_a_host_that_is_no_ipv4_address_is_refused_by_the_config() -> None:
    with pytest.raises(ConfigError, match=r"config key bridge.host: must be an IPv4 address "
                                          r"such as 127.0.0.1 .*, got 'localhost '"):
        HiveConfig().bridge.host = "localhost "
