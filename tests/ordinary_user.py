"""An ordinary user to run a non-root core as, from a root test run."""

from __future__ import annotations

import pwd
from pathlib import Path

USER = "hivetui-test"
ROOT = Path(__file__).resolve().parent.parent


def as_user(user: pwd.struct_passwd) -> list[str]:
    """argv prefix: run as ``user`` (from root)."""
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            "--"]
