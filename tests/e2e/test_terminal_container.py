"""The embedded terminal into a real local-backend container: a root shell, isolated."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hivetui.containers import procinfo
from hivetui.containers.local import LocalBackend
from hivetui.core.ports import ContainerSpec
from hivetui.tui.widgets.terminal import Terminal
from tests.terminal_testing import TerminalTestApp, plain_env, wait_for_text

pytestmark = pytest.mark.slow


async def test_shell_in_a_container_is_uid_0_inside_and_unprivileged_outside(
        tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "agents", stop_timeout=2.0)
    state = tmp_path / "agents" / "term" / "state"
    run = tmp_path / "secrets" / "term"
    for d in (state, run):
        d.mkdir(parents=True)
    spec = ContainerSpec(name="term", state_dir=state, run_dir=run,
                         log_file=tmp_path / "agents" / "term" / "container.log",
                         argv=(sys.executable, "-c", "import time; time.sleep(600)"))
    await backend.create(spec)
    await backend.start("term")
    try:
        app = TerminalTestApp(backend.shell_argv("term"), env=plain_env())
        async with app.run_test(size=(100, 24)) as pilot:
            term = app.query_one(Terminal)
            term.write(b"echo uid=$(id -u) host=$(hostname) procs=$(ls /proc | grep -c '^[0-9]')"
                       b"\r")
            await pilot.pause()
            await wait_for_text(term, "uid=0 host=h-term", timeout=40)
            text = "\n".join(term.render_line(y).text for y in range(24))
            procs = int(text.split("procs=")[-1].split()[0])
            # init, its network forwarder, the first process, the shell and its pipeline
            assert procs <= 7, f"the host's processes leak into the container: {procs}"
            term.write(b"touch /etc/hivetui-x 2>&1 | head -c 60; echo; touch /state/ok && "
                       b"echo state-writable\r")
            await wait_for_text(term, "state-writable", timeout=40)
            for _ in range(100):  # the text may be the typed line's echo: wait for the run
                if (state / "ok").exists():
                    break
                await pilot.pause(0.05)
            assert (state / "ok").exists()
            assert not Path("/etc/hivetui-x").exists()
        # outside, the container's processes belong to an unprivileged uid
        info = backend._dir("term").container()
        assert info is not None
        assert procinfo.owner_uid(int(info["pid"])) != 0
    finally:
        await backend.stop("term")
        await backend.aclose()
