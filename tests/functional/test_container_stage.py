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


def _plan(source: Path, overlay: str = "") -> SandboxPlan:
    return SandboxPlan(name="w1", hostname="h-w1", tool="bwrap", tool_path="/usr/bin/bwrap",
                       setpriv_path="/usr/bin/setpriv", uid=65534, gid=65534,
                       python="/usr/bin/python3", pythonpath="/", argv=["true"], env={},
                       cwd="/", log_file="/dev/null",
                       binds=[PlanBind(str(source), "/state", True)],
                       state_overlay=bool(overlay), overlay_dir=overlay)


def _mounts_under_run() -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [line.split()[4] for line in fh if line.split()[4].startswith("/run/")]


def _child(plan: SandboxPlan, witness: Path) -> int:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNS) != 0:
        return 3
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", "/run", "tmpfs", 0, "mode=0755")
    mount("tmpfs", "/dev/shm", "tmpfs", 0, "mode=1777")
    # mounts the host has below /run (ip netns's /run/netns…) stay listed under the tmpfs
    before = _mounts_under_run()
    staged = stage_binds(plan).binds[0].source  # a namespace of its own, as the supervisor
    if _mounts_under_run() != before or os.listdir("/run"):
        return 6  # made (and mounted) something on the host's /run
    if os.listdir(staged) != [witness.name]:
        return 4  # the staged bind does not show the source
    with open("/proc/self/mountinfo") as fh:
        mountinfo = fh.read()
    kind = next(line.split(" - ")[1].split()[0] for line in mountinfo.splitlines()
                if line.split()[4] == staged)
    if plan.state_overlay and kind != "overlay":
        return 5  # an overlaid state staged as something else
    if plan.state_overlay and str(witness.parent) in mountinfo:
        return 7  # the overlay names the state's host path
    return 0


@pytest.mark.parametrize("overlay", [False, True], ids=["bind", "overlay"])
def test_staging_creates_nothing_outside_the_state_dir(tmp_path: Path, overlay: bool) -> None:
    """Also with the state as an overlay (its work dir inside the state dir's tree), which
    the staged mount shows without the state's host path."""
    source = tmp_path / "state"
    source.mkdir()
    (source / "notes.md").write_text("x")
    plan = _plan(source, str(tmp_path / "containers" / "w1" / "state-overlay") if overlay
                 else "")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            os._exit(_child(plan, source / "notes.md"))
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
