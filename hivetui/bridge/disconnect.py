"""Notice an HTTP client that went away while its tool call waits (a long-poll ``recv``).

The bridge answers each call with one JSON response, handled in the request's own task,
which nothing cancels when the client disconnects. Left alone, a long-poll whose client
gave up would keep waiting and take the next message for nobody. ``client_gone`` watches
the request's ASGI ``receive`` channel (its body already read, so the next event it yields
is ``http.disconnect``) and completes a future the bus's wait listens to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]


async def _watch(receive: Receive, gone: asyncio.Future[None]) -> None:
    while True:
        event = await receive()
        if event.get("type") == "http.disconnect":
            if not gone.done():
                gone.set_result(None)
            return


@contextlib.asynccontextmanager
async def client_gone(request: object) -> AsyncIterator[asyncio.Future[None] | None]:
    """Yield a future completed when ``request``'s client disconnects (None: unknowable).

    ``request`` is the Starlette request the SDK hands the tool context; over other
    transports (in-memory tests) there is none and the wait is not watched.
    """
    receive = getattr(request, "receive", None)
    if receive is None or getattr(request, "scope", {}).get("type") != "http":
        yield None
        return
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    watcher = asyncio.create_task(_watch(receive, gone), name="bridge-disconnect-watch")
    try:
        yield gone
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if gone.done():
            log.info("bridge: a caller disconnected during a long-poll; nothing was taken")
