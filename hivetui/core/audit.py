"""The audit log: who did what, when, and the commit involved."""

from __future__ import annotations

import logging
import time

from hivetui.core.bounded import clipped
from hivetui.core.store import Store
from hivetui.core.views import AuditEntry

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(self, actor: str, action: str, target: str = "", detail: str = "",
                     commit: str = "") -> int:
        log.info("audit: %s %s %s %s", actor, action, clipped(target, 200), clipped(detail, 200))
        return await self._store.execute(
            "INSERT INTO audit (ts, actor, action, target, detail, commit_sha) "
            "VALUES (?,?,?,?,?,?)",
            (time.time(), actor, action, target, detail, commit),
        )

    async def query(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        sql = "SELECT id, ts, actor, action, target, detail, commit_sha FROM audit"
        params: list[object] = []
        if action is not None:
            sql += " WHERE action = ?"
            params.append(action)
        rows = await self._store.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [AuditEntry(*r) for r in reversed(rows)]
