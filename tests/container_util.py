"""Running a shell inside a real container of a running hive (through the backend's own
``shell_argv``: nsenter for the local backend)."""

from __future__ import annotations

import asyncio

from hivetui.node import HiveNode


async def sh_in(node: HiveNode, agent: str, script: str) -> str:
    """Run ``script`` inside ``agent``'s running container; its output, ending in DONE."""
    backend = node.hive.lifecycle.backend  # type: ignore[union-attr]
    proc = await asyncio.create_subprocess_exec(
        *backend.shell_argv(agent), "-c", script + "; echo DONE",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await asyncio.wait_for(proc.communicate(), 30))[0].decode()
    assert "DONE" in out, out
    return out
