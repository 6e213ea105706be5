"""Render an SVG of each screen from the deterministic fixtures the snapshot tests use.

    .venv/bin/python screenshots/make.py [--out screenshots]

Each screen is rendered by the real app over a real (temporary) hive filled by
``tests.tui_fixtures`` with a frozen clock, in UTC, and saved with
``app.save_screenshot``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hivetui.tui.commands import Command, Navigate, OpenAgent
from hivetui.tui.messages import HiveCommand
from tests.tui_fixtures import fixture_app, settle


@dataclass(frozen=True)
class Shot:
    name: str
    size: tuple[int, int] = (140, 40)
    command: Command | None = None
    keys: tuple[str, ...] = field(default_factory=tuple)


SHOTS = (
    Shot("fleet"),
    Shot("fleet-80x24", size=(80, 24)),
    Shot("fleet-200x60", size=(200, 60)),
    Shot("fleet-filter", keys=("slash", "w", "-")),
    Shot("agent-overview", command=OpenAgent("alice")),
    Shot("agent-overview-200x60", size=(200, 60), command=OpenAgent("boss")),
    Shot("agent-messages", command=OpenAgent("bob", "messages")),
    Shot("agent-logs", command=OpenAgent("alice", "logs"), keys=("slash", *"error", "enter")),
    Shot("agent-transcript", command=OpenAgent("alice", "transcript")),
    Shot("agent-transcript-expanded", command=OpenAgent("alice", "transcript"),
         keys=("left_square_bracket", *["down"] * 7, "enter")),
    Shot("grep", keys=("colon", *"grep recv", "enter")),
    Shot("command-line", keys=("colon", *"model bob claude-opus-4-1")),
    Shot("command-line-error", keys=("colon", *"frobnicate", "enter")),
    Shot("help", keys=("question_mark",)),
    Shot("approvals", command=Navigate("approvals")),
    Shot("questions", command=Navigate("questions")),
    Shot("kept", command=Navigate("kept")),
)


async def render(shot: Shot, out: Path, work: Path) -> Path:
    app = fixture_app(work / shot.name / "state")
    async with app.run_test(size=shot.size) as pilot:
        await settle(app)
        if shot.command is not None:
            app.post_message(HiveCommand(shot.command))
            await pilot.pause(0.2)
            await settle(app)
        if shot.keys:
            await pilot.press(*shot.keys)
            await settle(app)
        await pilot.pause(0.1)
        return Path(app.save_screenshot(f"{shot.name}.svg", path=str(out)))


async def main(out: Path, only: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="hivetui-shots-") as work:
        for shot in SHOTS:
            if only and shot.name not in only:
                continue
            path = await render(shot, out, Path(work))
            print(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("only", nargs="*", help="shot names (default: all)")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    time.tzset()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.out, args.only))
