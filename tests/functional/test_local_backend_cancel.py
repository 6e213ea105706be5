"""The local backend cancelled mid-subprocess (the namespace probe, a start waiting for the
supervisor): nothing keeps running, no pipe stays open, the cancellation propagates."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import pytest

from hivetui.containers import procinfo
from hivetui.containers.local import LocalBackend
from hivetui.core.ports import ContainerSpec

# the real unshare, except that it hangs (recording its pid) while the mark file exists
FAKE_HANGING_UNSHARE = """#!/bin/sh
if [ -e {dir}/hang ]; then echo $$ > {dir}/pids/pid; exec sleep 60; fi
exec {real} "$@"
"""


def _gone(pid: int) -> bool:
    """No such process, or a zombie waiting for init (killed; not ours to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, what: str) -> None:
    deadline = time.monotonic() + 5
    while not _gone(pid):
        assert time.monotonic() < deadline, f"{what} (pid {pid}) still runs"
        time.sleep(0.02)


@pytest.fixture
def fake_unshare(request: pytest.FixtureRequest) -> Path:
    real = shutil.which("unshare")
    if real is None:
        pytest.skip("unshare not installed")
    bindir = Path(tempfile.mkdtemp(prefix="hivetui-fake-"))  # the container uid must reach it
    request.addfinalizer(lambda: shutil.rmtree(bindir))
    os.chmod(bindir, 0o755)
    (bindir / "pids").mkdir(mode=0o777)
    os.chmod(bindir / "pids", 0o777)  # the fake may run as the container uid
    fake = bindir / "fake-hanging-unshare"
    fake.write_text(FAKE_HANGING_UNSHARE.format(dir=bindir, real=real))
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize("stage", ["probe", "start"])
def test_cancelled_call_leaves_no_process_or_open_pipe(stage: str, tmp_path: Path,
                                                       fake_unshare: Path) -> None:
    bindir = fake_unshare.parent
    agent = tmp_path / "agents" / "c1"
    (agent / "run").mkdir(parents=True)
    os.chmod(tmp_path / "agents", 0o700)
    spec = ContainerSpec(name="c1", state_dir=agent / "state", run_dir=agent / "run",
                         log_file=agent / "container.log", argv=("/bin/sh", "-c", "sleep 60"))
    backend = LocalBackend(tmp_path / "agents", tool="unshare", unshare=str(fake_unshare),
                           stop_timeout=1.0)

    async def scenario() -> int:
        if stage == "start":
            await backend.create(spec)  # the probe passes: the mark is not there yet
        (bindir / "hang").touch()
        call = backend.create(spec) if stage == "probe" else backend.start("c1")
        task = asyncio.ensure_future(call)
        deadline = time.monotonic() + 20
        while not (bindir / "pids" / "pid").exists() or \
                not (bindir / "pids" / "pid").read_text().strip():
            assert time.monotonic() < deadline and not task.done(), "the fake never hung"
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await backend.running() == set()
        await backend.aclose()
        return int((bindir / "pids" / "pid").read_text())

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fake_pid = asyncio.run(scenario())
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    _wait_gone(fake_pid, "the hanging unshare")
    if stage == "probe":
        assert not Path(f"/proc/{fake_pid}").exists()  # our own child: reaped, not a zombie
    else:  # the supervisor (nobody's child but init's) went with the launcher's group
        sup = backend._dir("c1").supervisor()
        assert sup is not None
        deadline = time.monotonic() + 5  # killed with the group: its exit takes a moment
        while procinfo.is_alive(int(sup["pid"]), int(sup["start"])):
            assert time.monotonic() < deadline, f"the supervisor (pid {sup['pid']}) still runs"
            time.sleep(0.02)
