"""The app's two ways in, as an operator starts them: `hivetui` (embedded core) and
`hivetui attach` (against `hivetui serve`), each in a real terminal (a PTY)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from hivetui.core.hive import Hive

pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TERM": "xterm-256color", "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
            "COLUMNS": "120", "LINES": "40"}


async def _seed(state: Path) -> None:
    async with Hive(state) as hive:
        await hive.registry.create("alice", runtime="scripted:echo", model="claude-opus-4-1")


def _quit(child: pexpect.spawn) -> None:
    child.sendcontrol("q")
    child.expect(pexpect.EOF, timeout=20)
    child.close()
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus)


async def test_hivetui_runs_the_app_with_an_embedded_core(tmp_path: Path) -> None:
    state = tmp_path / "state"
    await _seed(state)
    child = pexpect.spawn(sys.executable, ["-m", "hivetui", "--state-dir", str(state)],
                          env=_env(tmp_path), dimensions=(40, 120), encoding="utf-8",
                          timeout=30)
    try:
        child.expect("alice")
        child.expect("opus-4-1")
        # the embedded core serves its control socket while the app runs
        deadline = time.monotonic() + 10
        while not (state / "run" / "control.sock").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        out = subprocess.run([sys.executable, "-m", "hivetui", "ctl", "--state-dir",
                              str(state), "agents", "--json"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0 and '"alice"' in out.stdout, out.stderr
        _quit(child)
    finally:
        if child.isalive():
            child.terminate(force=True)
    assert not (state / "run" / "control.sock").exists()


async def test_attach_to_a_serving_core(tmp_path: Path) -> None:
    state = tmp_path / "state"
    await _seed(state)
    serve = subprocess.Popen([sys.executable, "-m", "hivetui", "serve", "--state-dir",
                              str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=_env(tmp_path), text=True)
    try:
        assert serve.stdout is not None
        assert "hivetui: serving" in serve.stdout.readline()
        deadline = time.monotonic() + 20
        while not (state / "run" / "control.sock").exists():
            assert time.monotonic() < deadline and serve.poll() is None
            time.sleep(0.1)
        child = pexpect.spawn(sys.executable, ["-m", "hivetui", "attach", "--state-dir",
                                               str(state)], env=_env(tmp_path),
                              dimensions=(40, 120), encoding="utf-8", timeout=30)
        try:
            child.expect("alice")
            child.expect("attached")
            _quit(child)
        finally:
            if child.isalive():
                child.terminate(force=True)
        assert serve.poll() is None  # the core outlives its UIs
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(20)
    assert serve.returncode == 0
