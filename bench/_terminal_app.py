"""The child of bench/terminal.py: the real operator app over an embedded hive.

A real ``Hive`` (sqlite, event pump, telemetry sampler) runs in this process with one
agent, ``alice``; the app runs full screen on this process's terminal (Textual's Linux
driver, real ANSI output). The one fake: alice's shell is a local bash instead of a shell
in her container (no container runs here), so the bench measures the app and the
terminal widget rather than a container runtime.

    python bench/_terminal_app.py STATE_DIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hivetui.core.hive import Hive  # noqa: E402
from hivetui.core.operator import Operator, OperatorSession  # noqa: E402
from hivetui.tui.app import create_app  # noqa: E402

SHELL = ["bash", "--norc", "--noprofile"]


class LocalShellSession(OperatorSession):
    """The operator's session, except that a shell opens here instead of in a container."""

    async def shell_argv(self, name: str) -> list[str]:
        self.hive.registry.get(name)
        await self.hive.audit.record(self.who.name, "terminal", name)
        return list(SHELL)


async def main(state: Path) -> None:
    async with Hive(state) as hive:
        if hive.registry.find("alice") is None:
            await hive.registry.create("alice", runtime="scripted:echo",
                                       model="claude-sonnet-4-5")
            await hive.registry.update("alice", state="running", status="idle")
        app = create_app(LocalShellSession(hive, Operator("local:bench")), bell=False)
        await app.run_async()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
