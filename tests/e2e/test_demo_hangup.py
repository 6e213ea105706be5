"""A hung-up `hivetui demo` (its terminal closed: SIGHUP) stops its throwaway hive: no
container, supervisor or harness of it is left running."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.slow


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes (not zombies) that mention ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


def wait_for(condition, what: str, child: pexpect.spawn,  # type: ignore[no-untyped-def]
             timeout: float = 60.0) -> None:
    """Poll ``condition``, reading the app's output meanwhile (a full PTY blocks it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
        try:
            child.read_nonblocking(65536, timeout=0.2)
        except (pexpect.TIMEOUT, pexpect.EOF, ValueError, OSError):  # closed: nothing to read
            time.sleep(0.05)


@pytest.mark.parametrize("hang_up", ["sighup", "close-terminal"])
def test_sighup_stops_the_demo_hive(tmp_path: Path, hang_up: str) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "TERM": "xterm-256color", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    child = pexpect.spawn(sys.executable, ["-m", "hivetui", "demo", "--state-dir", str(state)],
                          env=env, dimensions=(40, 120), timeout=60)
    try:
        child.expect("boss")
        wait_for(lambda: len(processes_mentioning("hivetui.containers.supervise")
                             and [p for p in processes_mentioning(str(state))
                                  if "supervise" in p]) >= 3,
                 "the demo's three containers to start", child)
        if hang_up == "sighup":
            child.kill(signal.SIGHUP)
        else:  # the terminal goes away: the kernel hangs up the session it controlled
            child.ptyproc.fileobj.close()
        wait_for(lambda: not child.isalive(), "the demo to exit after SIGHUP", child, 30)
        wait_for(lambda: not processes_mentioning(str(state)), "its processes to end", child,
                 15)
    finally:
        if child.isalive():
            child.terminate(force=True)
        for line in processes_mentioning(str(state)):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
