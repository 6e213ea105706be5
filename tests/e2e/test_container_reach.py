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
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.attack_hive import LEAK, attack

pytestmark = pytest.mark.slow

USER = "hivetui-test"
ROOT = Path(__file__).resolve().parent.parent.parent
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
        assert '"ok": true' not in report[key], (key, report)
    assert "ANSWERED" not in report["control"], report  # not even visible
    assert report["w2_state"] == "running", report
    assert [s for s in report["sockets"] if not s.startswith(PRIVATE)] == [], report


@pytest.fixture(scope="module")
def test_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("making the ordinary user of the non-root core needs root")
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    made = subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create the test user {USER}: {made.stderr.strip()[:200]}")
    return pwd.getpwnam(USER)


def _as(user: pwd.struct_passwd) -> list[str]:
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            "--"]


def _runs_as(user: pwd.struct_passwd, python: str) -> bool:
    # the core starts its supervisors with its own sys.executable: that must run too
    check = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
             "'import hivetui.node, tests.attack_hive'], check=True)")
    probe = subprocess.run([*_as(user), python, "-c", check], cwd=ROOT, capture_output=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def user_python(test_user: pwd.struct_passwd) -> Iterator[str]:
    """A python with the hive's install the test user may run: this one, or else a venv
    of the system python that reads this one's packages (a checkout under a private home)."""
    if _runs_as(test_user, sys.executable):
        yield sys.executable
        return
    base = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}",
                        path="/usr/local/bin:/usr/bin:/bin")
    if base is None:
        pytest.skip(f"the test user cannot run {sys.executable} and there is no system "
                    f"python{sys.version_info.major}.{sys.version_info.minor}")
    venv = Path(tempfile.mkdtemp(prefix="hivetui-user-venv-"))
    os.chmod(venv, 0o755)
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", str(venv / "v")], check=True)
        site = next((venv / "v" / "lib").glob("python3*/site-packages"))
        (site / "hive.pth").write_text("\n".join(
            [p for p in sys.path if p.endswith("site-packages")] + [str(ROOT)]) + "\n")
        python = str(venv / "v" / "bin" / "python")
        if not _runs_as(test_user, python):
            pytest.skip(f"the test user cannot read this install ({ROOT})")
        yield python
    finally:
        shutil.rmtree(venv)


async def test_a_root_cores_agent_reaches_nothing(test_user: pwd.struct_passwd) -> None:
    home = Path(test_user.pw_dir)
    state_dir = Path(tempfile.mkdtemp(prefix="hivetui-root-core-", dir="/var/tmp"))
    try:
        _check(await attack(state_dir, _canaries(home, state_dir)))
    finally:
        shutil.rmtree(state_dir)


def test_an_ordinary_users_cores_agent_reaches_nothing(test_user: pwd.struct_passwd,
                                                       user_python: str) -> None:
    """The core runs as the user; its state dir is in the user's home (the default
    place); container root is the user's uid outside."""
    home = Path(test_user.pw_dir)
    state_dir = home / "hive-state"
    shutil.rmtree(state_dir, ignore_errors=True)
    canaries = _canaries(home, state_dir)
    subprocess.run(["chown", "-R", f"{test_user.pw_uid}:{test_user.pw_gid}", str(home)],
                   check=True)
    try:
        done = subprocess.run(
            [*_as(test_user), user_python, "-m", "tests.attack_hive", str(state_dir),
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
