"""A body the store cannot keep is refused for its own sender only (real bridge, real sqlite)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.errors import BusError, HarnessError
from hivetui.core.hive import Hive
from hivetui.harness.client import HiveClient

POISON = "half a pair: \ud800 then more"
SENDERS = 20


def _token(hive: Hive, name: str) -> str:
    return (hive.paths.agent_run(name) / "token").read_text().strip()


async def test_a_poisoned_body_refuses_only_its_sender(hive: Hive, bridge: Bridge) -> None:
    await hive.registry.create("sink", runtime="scripted:echo", model="m")
    names = [f"s{i}" for i in range(SENDERS)]
    for name in names:
        await hive.registry.create(name, runtime="scripted:echo", model="m")
    clients = [HiveClient(bridge.url, _token(hive, n)) for n in names]
    for client in clients:
        await client.connect()
    try:
        results = await asyncio.gather(
            *[c.send("sink", POISON if i == 7 else f"hello from {names[i]}")
              for i, c in enumerate(clients)], return_exceptions=True)
    finally:
        for client in clients:
            await client.aclose()
    refused = {names[i]: r for i, r in enumerate(results) if isinstance(r, BaseException)}
    assert list(refused) == ["s7"], refused
    error = str(refused["s7"])
    assert isinstance(refused["s7"], HarnessError)
    assert "Message bus error" in error and "lone surrogate" in error and "character 13" in error
    assert "StoreError" not in error and "sqlite" not in error.lower()
    with sqlite3.connect(hive.store.path) as db:
        senders = sorted(r[0] for r in db.execute("SELECT sender FROM messages"))
    assert senders == sorted(n for n in names if n != "s7")
    assert hive.bus.depth("sink") == SENDERS - 1


async def test_a_store_refusal_is_a_bus_error_without_internals(hive: Hive) -> None:
    """A refusal the bus did not foresee (here: a trigger) keeps the store's words in the log."""
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    await hive.registry.create("bob", runtime="scripted:echo", model="m")
    await hive.store.execute(
        "CREATE TRIGGER no_secrets BEFORE INSERT ON messages WHEN NEW.body LIKE '%secret%' "
        "BEGIN SELECT RAISE(ABORT, 'internal table detail'); END")
    ok, bad = await asyncio.gather(hive.bus.send("ann", "bob", "plain"),
                                   hive.bus.send("bob", "ann", "a secret"),
                                   return_exceptions=True)
    assert not isinstance(ok, BaseException)
    assert isinstance(bad, BusError)
    assert "internal table detail" not in str(bad) and "not stored" in str(bad)
    assert hive.bus.depth("ann") == 0 and hive.bus.depth("bob") == 1


@pytest.mark.parametrize("value", [2**70, "\udfff"])
async def test_group_insert_isolates_values_sqlite_cannot_bind(hive: Hive, value: object
                                                               ) -> None:
    from hivetui.core.errors import StoreError
    from hivetui.core.group_insert import GroupInsert

    group = GroupInsert(hive.store, "messages",
                        ("sender", "recipient", "kind", "body", "created_at"))
    rows = [("a", "b", "peer", "ok1", 1.0), ("a", "b", "peer", value, 1.0),
            ("a", "b", "peer", "ok2", 1.0)]
    results = await asyncio.gather(*[group.insert(r) for r in rows], return_exceptions=True)
    assert isinstance(results[1], StoreError)
    assert isinstance(results[0], int) and isinstance(results[2], int)
