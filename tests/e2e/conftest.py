"""Fixtures of the end-to-end tests: an ordinary user for a non-root core, and a python
with the hive's install that user may run."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ordinary_user import ROOT, USER, as_user


@pytest.fixture(scope="session")
def ordinary_user() -> pwd.struct_passwd:
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


def _runs_as(user: pwd.struct_passwd, python: str) -> bool:
    # the core starts its supervisors with its own sys.executable: that must run too
    check = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
             "'import hivetui.node, tests.attack_hive'], check=True)")
    probe = subprocess.run([*as_user(user), python, "-c", check], cwd=ROOT, capture_output=True)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def user_python(ordinary_user: pwd.struct_passwd) -> Iterator[str]:
    """A python with the hive's install the test user may run: this one, or else a venv
    of the system python that reads this one's packages (a checkout under a private home)."""
    if _runs_as(ordinary_user, sys.executable):
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
        if not _runs_as(ordinary_user, python):
            pytest.skip(f"the test user cannot read this install ({ROOT})")
        yield python
    finally:
        shutil.rmtree(venv)
