"""`send` with an idempotency key: a retried send is stored once (real sqlite, real bridge)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.bridge.server import Bridge
from hivetui.core.config import HiveConfig
from hivetui.core.errors import BusError
from hivetui.core.hive import Hive
from hivetui.core.store import MIGRATIONS
from hivetui.harness.client import HiveClient


def _rows(hive: Hive) -> list[tuple[str, str, str]]:
    with sqlite3.connect(hive.store.path) as db:
        return list(db.execute("SELECT sender, recipient, body FROM messages ORDER BY id"))


async def _pair(hive: Hive) -> None:
    await hive.registry.create("ann", runtime="scripted:echo", model="m")
    await hive.registry.create("bob", runtime="scripted:echo", model="m")


async def test_a_repeated_key_returns_the_first_message(hive: Hive) -> None:
    await _pair(hive)
    first = await hive.bus.send("ann", "bob", "hello", idempotency_key="k1")
    again = await hive.bus.send("ann", "bob", "hello", idempotency_key="k1")
    assert again.id == first.id and hive.bus.depth("bob") == 1
    # keys are per sender, and no key means no deduplication
    other = await hive.bus.send("bob", "ann", "hello", idempotency_key="k1")
    assert other.id != first.id
    await hive.bus.send("ann", "bob", "hello")
    await hive.bus.send("ann", "bob", "hello")
    assert len(_rows(hive)) == 4
    with pytest.raises(BusError, match="idempotency key 'k1' was used by message #1"):
        await hive.bus.send("ann", "bob", "something else", idempotency_key="k1")
    for bad in ("", "x" * 201, "tab\tkey", 7):
        with pytest.raises(BusError, match="idempotency_key must be printable text"):
            await hive.bus.send("ann", "bob", "hi", idempotency_key=bad)  # type: ignore[arg-type]


async def test_concurrent_duplicates_store_one(hive: Hive) -> None:
    await _pair(hive)
    sent = await asyncio.gather(*[hive.bus.send("ann", "bob", "once", idempotency_key="same")
                                  for _ in range(10)])
    assert len({m.id for m in sent}) == 1 and _rows(hive) == [("ann", "bob", "once")]


async def test_a_refused_send_leaves_its_key_free(hive: Hive) -> None:
    await _pair(hive)
    with pytest.raises(BusError):
        await hive.bus.send("ann", "bob", "   ", idempotency_key="k")
    assert (await hive.bus.send("ann", "bob", "now text", idempotency_key="k")).body == "now text"


async def test_the_window_ends_and_a_restart_keeps_it(tmp_path: Path) -> None:
    cfg = HiveConfig()
    cfg.bus.idempotency_window_s = 30.0
    async with Hive(tmp_path / "state", cfg) as hive:
        await _pair(hive)
        first = await hive.bus.send("ann", "bob", "kept", idempotency_key="k")
    async with Hive(tmp_path / "state", cfg) as hive:  # the reply was lost in a crash
        assert (await hive.bus.send("ann", "bob", "kept", idempotency_key="k")).id == first.id
        assert len(_rows(hive)) == 1
    cfg.bus.idempotency_window_s = 0.2
    async with Hive(tmp_path / "state", cfg) as hive:
        await asyncio.sleep(0.3)
        later = await hive.bus.send("ann", "bob", "kept", idempotency_key="k")
        assert later.id != first.id and len(_rows(hive)) == 2


async def test_a_schema_1_store_migrates_with_its_messages(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "hive.sqlite3") as db:
        db.executescript(MIGRATIONS[0])
        db.execute("INSERT INTO messages (sender, recipient, kind, body, created_at) "
                   "VALUES ('operator', 'ann', 'operator', 'from before', 1.0)")
        db.execute("PRAGMA user_version = 1")
    async with Hive(state) as hive:
        assert [m.body for m in await hive.bus.history("ann")] == ["from before"]


@contextlib.asynccontextmanager
async def reply_dropping_proxy(upstream_port: int) -> AsyncIterator[tuple[int, list[int]]]:
    """A stand-in for a flaky network between an agent and the bridge: the reply to the
    first tools/call of ``send`` is swallowed and the connection cut after the bridge
    answered it. Yields the proxy's port and the count of replies dropped."""
    dropped: list[int] = []

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream_port)
        swallow = asyncio.Event()  # set: the next answer from the bridge is lost

        async def to_bridge() -> None:
            seen = b""
            with contextlib.suppress(ConnectionError):
                while chunk := await client_r.read(65536):
                    seen = (seen + chunk)[-65536:]
                    if not dropped and b'"name":"send"' in seen:
                        swallow.set()
                    up_w.write(chunk)
                    await up_w.drain()
            up_w.close()

        async def to_agent() -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await up_r.read(65536):
                    if swallow.is_set() and not dropped:
                        dropped.append(1)  # the bridge answered: the send is committed
                        client_w.transport.abort()  # ... and the agent never hears it
                        up_w.close()
                        return
                    client_w.write(chunk)
                    await client_w.drain()
            client_w.close()

        await asyncio.gather(to_bridge(), to_agent())

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], dropped
    finally:
        server.close()


async def test_the_harness_retries_a_send_after_a_lost_reply_without_duplicate(
        hive: Hive, bridge: Bridge) -> None:
    await _pair(hive)
    token = (hive.paths.agent_run("ann") / "token").read_text().strip()
    port = int(bridge.url.rsplit(":", 1)[1].split("/")[0])
    async with reply_dropping_proxy(port) as (proxy_port, dropped), \
            HiveClient(f"http://127.0.0.1:{proxy_port}/mcp", token, timeout_s=10) as ann:
        sent = await ann.send("bob", "exactly once")
    assert dropped == [1], "the proxy should have lost one reply"
    assert _rows(hive) == [("ann", "bob", "exactly once")]
    assert sent["id"] == (await hive.bus.history("bob"))[0].id
