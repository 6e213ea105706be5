"""A graceful stop of `hivetui serve` while an agent long-polls: no traceback anywhere.

Real serve subprocess, real local backend, a scripted:echo agent whose harness sits in a
`recv` long-poll when the core gets SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _ctl(state: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hivetui", "ctl", "--state-dir", str(state),
                           "--timeout", "60", *args],
                          capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait_for(pred, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within {timeout}s")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, dict[str, str]]]:
    state = tmp_path / "state"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
    proc = subprocess.Popen([sys.executable, "-m", "hivetui", "serve", "--state-dir",
                             str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        yield proc, state, env
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # containers outlive the core by design: stop the ones this test started
        for info in state.glob("containers/*/supervisor/supervisor.json"):
            try:
                os.kill(json.loads(info.read_text())["pid"], signal.SIGTERM)
            except (ProcessLookupError, ValueError, KeyError):
                pass


def test_sigterm_with_a_pending_long_poll_logs_no_traceback(serve) -> None:  # type: ignore[no-untyped-def]
    proc, state, env = serve
    _wait_for(lambda: (state / "run" / "control.sock").exists(), 60, "the control socket")
    _ctl(state, env, "spawn", "ann", "--runtime", "scripted:echo")
    _ctl(state, env, "send", "ann", "hello")
    # the echo came back: the harness is past its turn and back in its recv long-poll
    _wait_for(lambda: "echo: hello" in _ctl(state, env, "inbox", "operator"), 60, "the echo")
    # an operator following events: its control connection is open when the core stops
    follower = subprocess.Popen([sys.executable, "-m", "hivetui", "ctl", "--state-dir",
                                 str(state), "events", "--follow"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    follower.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "shutting down" in out
    log = (state / "logs" / "hivetui.log").read_text()
    for text in (err, log):
        assert "Traceback" not in text and "CancelledError" not in text, text[-3000:]
        assert "Exception in ASGI application" not in text
