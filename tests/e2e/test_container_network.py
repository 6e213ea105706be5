"""A worker's network from inside its real local-backend container (tests.network_hive), with a
root core and with an ordinary user's core: the host's loopback services and an outside
address are out of reach; the server its settings.toml allows is reached through the core's
egress proxy (plain HTTP and CONNECT); a target not allowed gets a 403 naming the rule, and
each refusal is counted (core, telemetry, log); the bridge answers through the forwarded
port (an echo round trip); and the host path of the agent's state is not in its mountinfo.
Needs bubblewrap (or unshare), and root to make the test user."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.network_hive import scenario
from tests.ordinary_user import ROOT, as_user

pytestmark = pytest.mark.slow


def _check(report: dict[str, Any]) -> None:
    targets = report["targets"]
    assert report["echo"] is True, report  # the bridge, through 127.0.0.1:7801 inside
    assert report["env_proxy"] == "http://127.0.0.1:7803", report
    assert report["env_no_proxy"] == "127.0.0.1,localhost", report
    # nothing of the host's network: its loopback is not this loopback, no route out
    assert report["host_loopback"].startswith("ConnectionRefusedError"), report
    if targets["host_ip"]:
        assert report["host_address"] == "OSError 101", report  # ENETUNREACH
    assert report["allowed_plain"] == "200 hello /plain", report
    assert report["allowed_connect"] == "200 hello /tunnel", report
    denied = f"127.0.0.1:{targets['listener']} is not allowed for agent w1"
    assert report["denied_plain"].startswith("403 hive egress proxy: " + denied), report
    assert "network.allow lets through only: " \
           f"127.0.0.1:{targets['http']}" in report["denied_plain"], report
    assert "403 Forbidden" in report["denied_connect"], report
    assert report["denied"] == report["view_denied"] == 2, report  # ctl agent / overview
    assert report["telemetry_denied"] == 2, report
    assert [line for line in report["log"] if "denied w1 to" in line] == [
        f"egress proxy: denied w1 to 127.0.0.1:{targets['listener']} (not in its "
        "network.allow)"] * 2, report
    state = report["agent_state"]
    assert state not in report["mountinfo"], [
        line for line in report["mountinfo"].splitlines() if state in line]
    assert [line.split(" - ")[1].split()[0] for line in report["mountinfo"].splitlines()
            if line.split()[4] == "/state"] == ["overlay"], report["mountinfo"]


async def test_a_root_cores_worker_has_only_its_own_network() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="hivetui-net-", dir="/var/tmp"))
    try:
        _check(await scenario(state_dir / "state"))
    finally:
        shutil.rmtree(state_dir)


def test_an_ordinary_users_worker_has_only_its_own_network(ordinary_user: pwd.struct_passwd,
                                                           user_python: str) -> None:
    home = Path(ordinary_user.pw_dir)
    state_dir = home / "hive-net-state"
    shutil.rmtree(state_dir, ignore_errors=True)
    try:
        done = subprocess.run(
            [*as_user(ordinary_user), user_python, "-m", "tests.network_hive", str(state_dir)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                 "LANG": "C.UTF-8"})
        line = next((x for x in done.stdout.splitlines() if x.startswith("REPORT ")), None)
        assert line is not None, (done.stdout[-3000:], done.stderr[-3000:])
        _check(json.loads(line[len("REPORT "):]))
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
