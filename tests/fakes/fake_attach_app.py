"""Stand-in for the `hivetui attach` command-line glue only (tests, until it lands).

The app and the control client are the real ones: connect to ``HIVETUI_SOCKET`` (the
client takes ``HIVETUI_SESSION_TOKEN`` from the environment, as `attach` does) and run
the operator app full screen on this process's terminal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from hivetui.control.client import ControlClient
from hivetui.tui.app import run_app


async def main() -> int:
    async with await ControlClient.connect(Path(os.environ["HIVETUI_SOCKET"])) as api:
        await run_app(api)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        logging.basicConfig(filename=sys.argv[1], level=logging.INFO)
    sys.exit(asyncio.run(main()))
