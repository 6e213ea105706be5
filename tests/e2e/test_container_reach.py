"""An agent attacks its hive from inside its real local-backend container (tests.attack_hive),
once with a root core and once with an ordinary user's core (whose containers' root maps to
the core's own uid): the store, the other agent's token, the hive's log, canary files in
the operator's home and the state dir, every host socket and the control socket are all
out of reach; the control socket refuses the agent even when its directory is bound into
the container on purpose. Needs bubblewrap or unshare, and root to make the test user."""

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

from tests.attack_hive import LEAK, attack
from tests.ordinary_user import ROOT, as_user

pytestmark = pytest.mark.slow

#: where a container may see sockets: its private tmpfs dirs, and the deliberate leak
PRIVATE = ("/tmp/", "/dev/", "/run/hive/", LEAK + "/")


def _canaries(home: Path, state_dir: Path) -> list[str]:
    """A world-readable file and a private key in the operator's home, one in the state
    dir; all readable by the core's uid outside."""
    (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    (home / ".ssh" / "id_canary").write_text("secret key\n")
    (home / "notes.txt").write_text("operator's notes\n")
    os.chmod(home / "notes.txt", 0o644)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "canary").write_text("state canary\n")
    return [str(home / ".ssh" / "id_canary"), str(home / "notes.txt"),
            str(state_dir / "canary")]


def _check(report: dict[str, Any]) -> None:
    assert report["own_token"] == "READ", report  # the attack ran, as the agent
    for key in ("store", "other_token", "hive_log", "canary0", "canary1", "canary2"):
        assert report[key] != "READ", (key, report)
    for key in ("control", "leaked_control"):
        answered = report[key].partition("ANSWERED ")[2]
        assert not any(json.loads(line).get("ok") for line in answered.splitlines()), \
            (key, report)
    assert "ANSWERED" not in report["control"], report  # not even visible
    assert report["w2_state"] == "running", report
    assert [s for s in report["sockets"] if not s.startswith(PRIVATE)] == [], report


async def test_a_root_cores_agent_reaches_nothing(ordinary_user: pwd.struct_passwd) -> None:
    home = Path(ordinary_user.pw_dir)
    state_dir = Path(tempfile.mkdtemp(prefix="hivetui-root-core-", dir="/var/tmp"))
    try:
        _check(await attack(state_dir, _canaries(home, state_dir)))
    finally:
        shutil.rmtree(state_dir)


def test_an_ordinary_users_cores_agent_reaches_nothing(ordinary_user: pwd.struct_passwd,
                                                       user_python: str) -> None:
    """The core runs as the user; its state dir is in the user's home (the default
    place); container root is the user's uid outside."""
    home = Path(ordinary_user.pw_dir)
    state_dir = home / "hive-state"
    shutil.rmtree(state_dir, ignore_errors=True)
    canaries = _canaries(home, state_dir)
    subprocess.run(["chown", "-R", f"{ordinary_user.pw_uid}:{ordinary_user.pw_gid}", str(home)],
                   check=True)
    try:
        done = subprocess.run(
            [*as_user(ordinary_user), user_python, "-m", "tests.attack_hive", str(state_dir),
             *canaries], cwd=ROOT, capture_output=True, text=True, timeout=300,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                 "LANG": "C.UTF-8"})
        line = next((x for x in done.stdout.splitlines() if x.startswith("REPORT ")), None)
        assert line is not None, (done.stdout[-3000:], done.stderr[-3000:])
        report = json.loads(line[len("REPORT "):])
        _check(report)
        # the socket's own mode lets the user's uid in: the operator check refuses it
        assert "operator account only" in report["leaked_control"], report
        assert "another user namespace" in report["leaked_control"], report
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
