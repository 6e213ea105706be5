"""The vocabularies of core/kinds.py are the store's: each CHECK constraint of the schema
allows exactly the values of its Literal type (one source; a new state added on one side
only fails here)."""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest

from hivetui.core import kinds
from hivetui.core.store import MIGRATIONS

SCHEMA = "\n".join(MIGRATIONS)


def _checked(table: str, column: str) -> list[str]:
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n    \);", SCHEMA, re.S)
    assert body, table
    found = re.search(rf"\b{column} TEXT[^,]*?CHECK \({column} IN \(([^)]*)\)\)", body.group(1),
                      re.S)
    assert found, (table, column)
    return re.findall(r"'([^']*)'", found.group(1))


@pytest.mark.parametrize(("table", "column", "literal"), [
    ("agents", "role", kinds.AgentRole),
    ("messages", "kind", kinds.MessageKind),
    ("approvals", "state", kinds.ApprovalState),
    ("questions", "state", kinds.QuestionState),
])
def test_the_store_allows_the_vocabulary(table: str, column: str, literal: Any) -> None:
    assert _checked(table, column) == list(get_args(literal))

