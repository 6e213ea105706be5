"""`hivetui serve` on a store it must not use: a clear refusal, exit 1, nothing left running.

Each case runs the real command as a subprocess on a state directory prepared by a real
hive (one agent, some messages), then damaged the way the case says.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hivetui.core.hive import Hive
from hivetui.core.store import SCHEMA_VERSION

pytestmark = pytest.mark.slow
EXIT_WITHIN_S = 30  # before the fix a refused store left the process running for ever
PAGE = 4096


def _prepare(state: Path) -> None:
    async def fill() -> None:
        async with Hive(state) as hive:
            await hive.registry.create("ann", runtime="scripted:echo", model="m")
            for i in range(200):
                await hive.bus.send("operator", "ann", f"message {i} " + "x" * 500)

    asyncio.run(fill())


def _zero_bytes(db: Path) -> None:
    db.write_bytes(b"")


def _garbage_header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:100] = os.urandom(100)
    db.write_bytes(bytes(data))


def damage_a_messages_page(db: Path) -> str:
    """Overwrite most of a leaf b-tree page of the messages table with 0xff (the page found
    through sqlite's dbstat: where it lies depends on the schema's indexes)."""
    with sqlite3.connect(db) as conn:
        leaves = [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf'")]
    conn.close()
    page = leaves[len(leaves) // 2]
    data = bytearray(db.read_bytes())
    data[(page - 1) * PAGE + 100:page * PAGE - 96] = b"\xff" * (PAGE - 196)
    db.write_bytes(bytes(data))
    return f"page {page}"  # what the refusal must name


def _newer_schema(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")


CASES: dict[str, tuple[Callable[[Path], str | None], list[str]]] = {
    "zero-bytes": (_zero_bytes, ["is empty (0 bytes)", "describes agents",
                                 "secrets/ holds ann", "Restore hive.sqlite3"]),
    "garbage-header": (_garbage_header, ["cannot open the store", "file is not a database",
                                         "Recovery:", ".recover"]),
    "damaged-page": (damage_a_messages_page, ["failed its integrity check", "quick_check",
                                     "Recovery:"]),
    "newer-schema": (_newer_schema, [f"has schema 99, newer than this hivetui knows "
                                     f"({SCHEMA_VERSION})",
                                     "Upgrade hivetui"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_serve_refuses_and_exits(tmp_path: Path, case: str) -> None:
    state = tmp_path / "state"
    _prepare(state)
    damage, expected = CASES[case]
    named = damage(state / "hive.sqlite3")
    expected = [*expected, *([named] if isinstance(named, str) else [])]
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
    done = subprocess.run([sys.executable, "-m", "hivetui", "serve", "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=EXIT_WITHIN_S, env=env)
    assert done.returncode == 1, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("hivetui: Store error: the store") or \
        line.startswith("hivetui: Store error: cannot open the store"), line
    for words in expected:
        assert words in line, (words, line)
    assert "serving" not in done.stdout
    assert not (state / "run" / "control.sock").exists()


def test_a_fresh_or_empty_store_without_agents_starts(tmp_path: Path) -> None:
    """The 0-byte refusal is about agents left behind, not about empty files."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "hive.sqlite3").write_bytes(b"")

    async def open_it() -> list[str]:
        async with Hive(state) as hive:
            return [a.name for a in hive.registry.all()]

    assert asyncio.run(open_it()) == []
