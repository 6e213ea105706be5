"""Can the container uid run this hivetui install with another interpreter?

A root-run hive maps container root to an unprivileged uid. When the core's own python is
private to root (a pyenv or venv under ``/root``), the container runs a system python with
this environment's packages on ``PYTHONPATH``; that only works when the uid can reach
hivetui and every dependency, and the python is the same minor version the packages were
built for. Otherwise the container is refused here, naming the path, instead of every
agent dying at start with ``ModuleNotFoundError``.
"""

from __future__ import annotations

import os
import re
import sys

from hivetui.containers.runtime_dir import world_executable
from hivetui.core.errors import ContainerError

_VERSION_RE = re.compile(r"python(\d+\.\d+)$")


def check_install_reachable(python: str, uid: int, paths: list[str]) -> None:
    """Refuse (``ContainerError``) unless uid ``uid`` can run ``paths`` with ``python``."""
    for path in paths:
        if not world_executable(path):
            raise ContainerError(
                f"the hivetui install at {path[:300]} is not reachable by the container uid "
                f"{uid} (a directory on the way is private, e.g. a 0700 home): install "
                "hivetui (its venv) where every user can read it, such as /opt or /srv")
    found = _VERSION_RE.search(os.path.realpath(python))
    core = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if found is not None and found.group(1) != core:
        raise ContainerError(
            f"the container would run {python} (python {found.group(1)}) because the core's "
            f"python {sys.executable[:200]} is private, but hivetui's packages are for "
            f"python {core}: install hivetui where the container uid {uid} can reach its "
            "python, or pass a python of the same version")
