"""Questions from the manager to the operator; answers go back as ``operator_answer``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hivetui.core.audit import AuditLog
from hivetui.core.errors import NotFoundError, QuestionError
from hivetui.core.events import EventHub, ManagerEvent, OperatorAnswer, QuestionAsked
from hivetui.core.registry import Registry
from hivetui.core.rows import Columns
from hivetui.core.store import Store
from hivetui.core.views import Question

log = logging.getLogger(__name__)

MAX_QUESTION = 4000
MAX_OPTIONS = 20

_COLS = Columns(id="id", agent="agent", question="question", options="options", state="state",
                answer="answer", created_at="created_at", answered_at="answered_at",
                answered_by="answered_by")


def _question(row: tuple[Any, ...]) -> Question:
    fields = _COLS.read(row)
    return Question(**{**fields, "options": tuple(json.loads(fields["options"]))})


class Questions:
    def __init__(self, store: Store, registry: Registry, hub: EventHub, audit: AuditLog,
                 notify: Callable[[ManagerEvent], Awaitable[None]]) -> None:
        self._store = store
        self._registry = registry
        self._hub = hub
        self._audit = audit
        self._notify = notify

    async def ask(self, agent: str, question: str, options: list[str] | None = None) -> Question:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("question must be non-empty text")
        if len(question) > MAX_QUESTION:
            raise QuestionError(f"question is {len(question)} characters; the limit is "
                                f"{MAX_QUESTION}")
        opts = list(options or [])
        if len(opts) > MAX_OPTIONS or not all(isinstance(o, str) and o.strip() for o in opts):
            raise QuestionError(f"options must be up to {MAX_OPTIONS} non-empty strings")
        now = time.time()
        qid = await self._store.execute(
            "INSERT INTO questions (agent, question, options, created_at) VALUES (?,?,?,?)",
            (agent, question, json.dumps(opts), now),
        )
        if self._registry.find(agent) is not None:
            await self._registry.update(agent, status="waiting_operator",
                                        status_detail=f"question #{qid}: {question[:60]}")
        self._hub.publish(QuestionAsked(id=qid, agent=agent, question=question,
                                        options=tuple(opts)))
        return await self.get(qid)

    async def get(self, qid: int) -> Question:
        row = await self._store.fetchone(f"SELECT {_COLS} FROM questions WHERE id = ?", (qid,))
        if row is None:
            raise NotFoundError(f"no question with id {qid}")
        return _question(row)

    async def query(self, include_answered: bool = False) -> list[Question]:
        where = "" if include_answered else " WHERE state = 'pending'"
        rows = await self._store.fetchall(f"SELECT {_COLS} FROM questions{where} ORDER BY id")
        return [_question(r) for r in rows]

    async def answer(self, qid: int, operator: str, text: str) -> Question:
        if not isinstance(text, str) or not text.strip():
            raise QuestionError("answer must be non-empty text")
        q = await self.get(qid)
        if q.options and text not in q.options:
            raise QuestionError(
                f"answer must be one of the question's options: {', '.join(q.options)}"
            )
        async with self._store.transaction() as db, db.execute(
            "UPDATE questions SET state = 'answered', answer = ?, answered_at = ?, "
            "answered_by = ? WHERE id = ? AND state = 'pending'",
            (text, time.time(), operator, qid),
        ) as cur:
            changed = cur.rowcount
        if changed != 1:
            raise QuestionError(f"question {qid} is already answered")
        await self._audit.record(operator, "answer", q.agent, f"question {qid}: {text[:200]}")
        agent = self._registry.find(q.agent)
        if agent is not None and agent.status == "waiting_operator" and \
                not any(p.agent == q.agent for p in await self.query()):
            await self._registry.update(q.agent, status="idle", status_detail="")
        await self._notify(OperatorAnswer(question_id=qid, answer=text, question=q.question))
        return await self.get(qid)
