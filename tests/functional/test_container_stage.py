"""A root core's container supervisor stages bind sources without creating anything on the
host (issue 15: ``/run/hivetui-stage`` appeared on the host). Real mount namespaces: the
staging runs in a forked child whose ``/run`` and ``/dev/shm`` are fresh tmpfs, then both
are checked to be as empty as they started (a directory made there would be on them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hivetui.containers.mounts import MS_PRIVATE, MS_REC, mount
from hivetui.containers.sandbox import PlanBind, SandboxPlan
from hivetui.containers.supervise import CLONE_NEWNS, stage_binds

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="staging is what a root core does")


def _plan(source: Path) -> SandboxPlan:
    return SandboxPlan(name="w1", hostname="h-w1", tool="bwrap", tool_path="/usr/bin/bwrap",
                       setpriv_path="/usr/bin/setpriv", uid=65534, gid=65534,
                       python="/usr/bin/python3", pythonpath="/", argv=["true"], env={},
                       cwd="/", log_file="/dev/null",
                       binds=[PlanBind(str(source), "/state", True)])


def _child(plan: SandboxPlan, witness: Path) -> int:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNS) != 0:
        return 3
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", "/run", "tmpfs", 0, "mode=0755")
    mount("tmpfs", "/dev/shm", "tmpfs", 0, "mode=1777")
    sources = stage_binds(plan)  # a namespace of its own, as in the supervisor
    with open("/proc/self/mountinfo") as fh:
        under_run = [line.split()[4] for line in fh if line.split()[4].startswith("/run/")]
    if under_run or os.listdir("/run"):
        return 6  # made (and mounted) something on the host's /run
    if os.listdir(sources[0]) != [witness.name]:
        return 4  # the staged bind does not show the source
    return 0


def test_staging_creates_nothing_outside_the_state_dir(tmp_path: Path) -> None:
    source = tmp_path / "state"
    source.mkdir()
    (source / "notes.md").write_text("x")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            os._exit(_child(_plan(source), source / "notes.md"))
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
