"""What start-up imports: `python -X importtime` in a subprocess, per entry path.

`hivetui attach` (every SSH session runs one) and `hivetui ctl` talk to a core over its
control socket: they never need the MCP bridge or its web stack, nor the store. The
embedded `hivetui` opens the core first and imports the bridge only when it starts its
services, behind the app's first frame (see hivetui.node).

The attach and ctl runs are the real CLI, pointed at a socket nobody serves: each
imports everything its path needs up to connecting, then fails with a clear error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB_STACK = ("mcp", "uvicorn", "starlette", "hivetui.bridge")


def imported(args: list[str], tmp: Path) -> set[str]:
    """The modules a `python -X importtime ARGS` run imported (its stderr's report)."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp / "xdg"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    report = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert report, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in report[1:]}


def under(modules: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


def test_attach_imports_no_web_stack_store_or_detail_widgets(tmp_path: Path) -> None:
    modules = imported(["-m", "hivetui", "attach", "--socket", str(tmp_path / "none.sock"),
                        "--state-dir", str(tmp_path / "state")], tmp_path)
    assert "hivetui.tui.app" in modules and "hivetui.control.client" in modules
    assert under(modules, WEB_STACK) == set()
    # the store, the agent screen (emulator, charts) and the queue screens come when
    # first used
    assert under(modules, ("aiosqlite", "hivetui.core.store", "pyte", "textual_plotext",
                           "hivetui.tui.screens.agent_detail",
                           "hivetui.tui.screens.queue_base")) == set()


def test_ctl_imports_no_web_stack_and_no_textual(tmp_path: Path) -> None:
    modules = imported(["-m", "hivetui", "ctl", "--socket", str(tmp_path / "none.sock"),
                        "agents"], tmp_path)
    assert "hivetui.control.client" in modules
    assert under(modules, (*WEB_STACK, "textual", "rich", "aiosqlite")) == set()


def test_embedded_app_and_opened_core_import_no_web_stack(tmp_path: Path) -> None:
    code = ("import asyncio, sys\n"
            "from hivetui.tui.run import run_embedded\n"
            "from hivetui.node import HiveNode\n"
            f"node = HiveNode({str(tmp_path / 'state')!r})\n"
            "asyncio.run(node.open())\n"
            "asyncio.run(node.hive.aclose())\n")
    modules = imported(["-c", code], tmp_path)
    assert "hivetui.tui.app" in modules and "hivetui.core.hive" in modules
    assert under(modules, WEB_STACK) == set()


FIRST_FRAME = '''
import asyncio, sys, tempfile
from pathlib import Path
from hivetui.control.client import ControlClient
from hivetui.control.server import ControlServer
from hivetui.control.sessions import SessionTokens
from hivetui.core.hive import Hive
from hivetui.tui.app import HiveApp

class FirstFrame(HiveApp):
    async def on_mount(self) -> None:
        await super().on_mount()
        self.call_after_refresh(self.exit)

async def main() -> None:
    async with Hive(Path(sys.argv[1])) as hive:
        await hive.registry.create("worker", runtime="scripted:echo", model="m")
        control = ControlServer(hive, sessions=SessionTokens())
        hive.add_service("control", control.run)
        async with await ControlClient.connect(await control.ready()) as api:
            await FirstFrame(api, where="attached").run_async(headless=True)
    print(" ".join(sorted(sys.modules)))

asyncio.run(main())
'''


def test_the_attached_apps_first_frame_leaves_other_screens_unimported(tmp_path: Path
                                                                      ) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(tmp_path / "state")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(done.stdout.split())
    assert "hivetui.tui.screens.fleet" in modules
    assert under(modules, ("pyte", "textual_plotext", "hivetui.tui.screens.agent_detail",
                           "hivetui.tui.screens.queue_base")) == set()
