"""Deterministic data and a tiny host app for the approvals / questions / kept screens.

Used by the pilot tests, the snapshot tests and the screenshots script: a real
``Hive(state_dir)`` store, rows with fixed timestamps, and a clock fixed after them.
Approval rows are inserted straight into the ``approvals`` table (columns from
``hivetui/core/store.py``), the way the approvals service stores its requests.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

from textual.app import App, ComposeResult
from textual.notifications import Notification
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from hivetui.core.api import HiveAPI
from hivetui.core.errors import HiveError, NotAvailableError
from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession
from hivetui.core.views import Approval

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
NOW = T0 + 3 * 3600 + 17 * 60  # the fixed clock of every screen under test


def fixed_clock() -> float:
    return NOW


APPLY_DIFF = """\
diff --git a/settings.toml b/settings.toml
index 3b18e51..a9c1f02 100644
--- a/settings.toml
+++ b/settings.toml
@@ -1,6 +1,7 @@
 runtime = "claude"
-model = "claude-sonnet-4-5"
+model = "claude-opus-4-1"
 allowed_tools = [
     "Bash(git *)",
+    "Bash(cargo test)",
 ]
 extra_mcp = []
diff --git a/prompt.md b/prompt.md
index 5d2e7a1..0c4f9b3 100644
--- a/prompt.md
+++ b/prompt.md
@@ -3,4 +3,5 @@ You are alice, a worker of the hive.
 Keep your changes small and tested.
-Report to the manager when a task is done.
+Report to the manager when a task is done,
+with the commands you ran and their results.
 Never push to main.
"""

DRAFT_DIFF = """\
diff --git a/agent.nix b/agent.nix
new file mode 100644
index 0000000..7f3e2c1
--- /dev/null
+++ b/agent.nix
@@ -0,0 +1,5 @@
+{ pkgs, ... }:
+{
+  environment.systemPackages = [ pkgs.git pkgs.ripgrep pkgs.python311 ];
+  hive.agent.name = "carol";
+}
diff --git a/settings.toml b/settings.toml
new file mode 100644
index 0000000..1c2d3e4
--- /dev/null
+++ b/settings.toml
@@ -0,0 +1,3 @@
+runtime = "claude"
+model = "claude-sonnet-4-5"
+allowed_tools = ["Bash(git *)", "Bash(pytest *)"]
"""


async def insert_approval(hive: Hive, *, kind: str, agent: str, commit: str = "",
                          diff: str = "", detail: str = "", requested_by: str = "boss",
                          created_at: float = T0) -> int:
    return await hive.store.execute(
        "INSERT INTO approvals (kind, agent, commit_sha, diff, detail, requested_by, "
        "created_at) VALUES (?,?,?,?,?,?,?)",
        (kind, agent, commit, diff, detail, requested_by, created_at),
    )


async def seed_approvals(hive: Hive) -> list[int]:
    """Three pending requests: a config change, a spawn from a draft, a one-shot spawn."""
    return [
        await insert_approval(hive, kind="apply_commit", agent="alice",
                              commit="a9c1f02e5b7d4c3a2f1e0d9c8b7a6f5e4d3c2b1a",
                              diff=APPLY_DIFF, created_at=T0 + 3 * 3600 + 12 * 60),
        await insert_approval(hive, kind="spawn_commit", agent="carol",
                              commit="7f3e2c1d0b9a8f7e6d5c4b3a29181706f5e4d3c2",
                              diff=DRAFT_DIFF, created_at=T0 + 3 * 3600 + 16 * 60 + 30,
                              detail=json.dumps({"runtime": "claude",
                                                 "model": "claude-sonnet-4-5"})),
        await insert_approval(hive, kind="spawn", agent="dave", created_at=T0 + 60,
                              detail=json.dumps({"runtime": "scripted:echo"})),
    ]


async def seed_questions(hive: Hive) -> list[int]:
    """Two pending questions (one with options), one answered; fixed timestamps."""
    q1 = await hive.questions.ask("boss", "Which branch should carol start from?",
                                  ["main", "release-1.2", "carol/draft"])
    q2 = await hive.questions.ask("boss", "Any notes for the release announcement?")
    q3 = await hive.questions.ask("boss", "Old question", ["yes", "no"])
    await hive.questions.answer(q3.id, "local:tester", "yes")
    for qid, at in ((q1.id, T0 + 3 * 3600 + 10 * 60), (q2.id, T0 + 3 * 3600 + 16 * 60),
                    (q3.id, T0)):
        await hive.store.execute("UPDATE questions SET created_at = ? WHERE id = ?",
                                 (at, qid))
    return [q1.id, q2.id]


def seed_kept(hive: Hive, names: tuple[str, ...] = ("erin", "frank")) -> None:
    """Kept agents as destroy leaves them: a state dir and no registry entry."""
    for name in names:
        state = hive.paths.agent_state(name)
        state.mkdir(parents=True, exist_ok=True)
        (state / "notes.md").write_text(f"{name}'s notes\n", encoding="utf-8")


ScreenFactory = Callable[[HiveAPI], Screen[None]]
Seed = Callable[[Hive], Awaitable[object]]


class ScreenHost(App[None]):
    """Pushes one screen over a placeholder base screen.

    Either give it a ready ``api`` (pilot tests, which own the hive), or a ``state_dir``
    and a ``seed``: it then opens a real hive itself on mount and closes it on unmount
    (snapshot tests, which run the app in their own loop).
    """

    TITLE = "hivetui"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, factory: ScreenFactory, *, api: HiveAPI | None = None,
                 state_dir: Path | None = None, seed: Seed | None = None) -> None:
        super().__init__()
        self._factory = factory
        self.api = api
        self._state_dir = state_dir
        self._seed = seed
        self._stack = AsyncExitStack()
        self.hive: Hive | None = None

    def compose(self) -> ComposeResult:
        yield Static("base screen")

    async def on_mount(self) -> None:
        if self.api is None:
            assert self._state_dir is not None
            self.hive = await self._stack.enter_async_context(Hive(self._state_dir))
            if self._seed is not None:
                await self._seed(self.hive)
            await ensure_approvals_readable(self.hive)
            await ensure_kept_readable(self.hive)
            self.api = OperatorSession(self.hive, Operator("local:tester"))
        await self.push_screen(self._factory(self.api))

    async def on_unmount(self) -> None:
        await self._stack.aclose()


# --- until issue 5 lands ------------------------------------------------------------
_APPROVAL_COLS = ("id, kind, agent, commit_sha, diff, detail, state, requested_by, created_at, "
                  "resolved_at, resolved_by, reason")


async def read_approvals_table(hive: Hive, include_resolved: bool = False) -> list[Approval]:
    where = "" if include_resolved else " WHERE state = 'pending'"
    rows = await hive.store.fetchall(
        f"SELECT {_APPROVAL_COLS} FROM approvals{where} ORDER BY id")
    return [Approval(*row) for row in rows]


async def ensure_approvals_readable(hive: Hive) -> None:
    """While ``Approvals.query`` is still issue 5's stub (always ``[]``), read the table.

    A no-op once the real query lands: it then returns the rows inserted above.
    """
    if await hive.approvals.query(True) or not await read_approvals_table(hive, True):
        return

    async def query(include_resolved: bool = False) -> list[Approval]:
        return await read_approvals_table(hive, include_resolved)

    hive.approvals.query = query  # type: ignore[method-assign]


async def approvals_landed(hive: Hive) -> bool:
    """True once approve/deny are implemented (the stub raises NotAvailableError)."""
    try:
        await hive.approvals.deny(10**9, "local:probe", "probe")
    except NotAvailableError:
        return False
    except HiveError:
        return True
    return True


def kept_on_disk(hive: Hive) -> list[str]:
    """Kept agents by the rule destroy leaves behind (``KeptAgents.kept``): a state dir
    (``states/<name>``), no registry entry."""
    if not hive.paths.states.exists():
        return []
    return sorted(p.name for p in hive.paths.states.iterdir()
                  if p.is_dir() and hive.registry.find(p.name) is None)


async def ensure_kept_readable(hive: Hive) -> None:
    """While ``Approvals.kept`` is still issue 5's stub (always ``[]``), read the disk."""
    if await hive.approvals.kept() or not kept_on_disk(hive):
        return

    async def kept() -> list[str]:
        return kept_on_disk(hive)

    hive.approvals.kept = kept  # type: ignore[method-assign]


# --- pilot helpers ---------------------------------------------------------------------
def toasts(app: App[None]) -> list[Notification]:
    """The notifications (toasts) the app has shown and not yet expired."""
    return list(app._notifications)


async def settle(pilot: Pilot[None]) -> None:
    """Let API calls started by the screen finish and the UI catch up."""
    for screen in pilot.app.screen_stack:
        calls = getattr(screen, "calls", None)
        if calls is not None:
            await calls.wait()
    await pilot.pause()
    await pilot.pause()


def operator_session(hive: Hive, read_only: bool = False) -> OperatorSession:
    return OperatorSession(hive, Operator("local:tester", read_only=read_only))
