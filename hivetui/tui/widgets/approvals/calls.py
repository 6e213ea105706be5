"""Operator API calls started from a screen, run so that they outlive the screen.

An approve may rebuild a container and take a while; closing the screen must not cancel
it half-way inside the (embedded) core, so calls run as plain asyncio tasks rather than
Textual workers (which die with their DOM node). A ``HiveError`` becomes an error toast
with its title and message; anything else is logged with its traceback and toasted too:
never a crash of the UI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from textual.dom import DOMNode

from hivetui.core.errors import HiveError

log = logging.getLogger(__name__)

T = TypeVar("T")


class ApiCalls:
    """Runs API calls for ``owner``; at most one call per key at a time."""

    def __init__(self, owner: DOMNode) -> None:
        self._owner = owner
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def busy(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def run(self, key: str, what: str, call: Awaitable[T],
            on_success: Callable[[T], object]) -> bool:
        """Start ``call``; ``on_success(result)`` runs after it if the owner is still mounted.

        Returns False (and toasts) when a call with the same key is still running.
        """
        app = self._owner.app
        if self.busy(key):
            if asyncio.iscoroutine(call):
                call.close()
            app.notify(f"{what} is still in progress", title="Please wait",
                       severity="warning")
            return False
        task = asyncio.ensure_future(self._call(what, call, on_success))
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._forget(key, t))
        return True

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]

    async def _call(self, what: str, call: Awaitable[T],
                    on_success: Callable[[T], object]) -> None:
        app = self._owner.app
        try:
            result = await call
        except HiveError as exc:
            log.info("%s refused: %s", what, exc)
            app.notify(exc.message, title=exc.title, severity="error", timeout=10)
            return
        except Exception as exc:
            log.exception("%s failed", what)
            app.notify(f"{type(exc).__name__}: {exc}", title=f"{what} failed",
                       severity="error", timeout=10)
            return
        if self._owner.is_attached:
            on_success(result)

    async def read(self, what: str, call: Awaitable[T]) -> T | None:
        """Await a read (a list for the screen) in place; on failure toast and return None."""
        try:
            return await call
        except HiveError as exc:
            log.info("%s refused: %s", what, exc)
            self._owner.app.notify(exc.message, title=exc.title, severity="error", timeout=10)
        except Exception as exc:
            log.exception("%s failed", what)
            self._owner.app.notify(f"{type(exc).__name__}: {exc}", title=f"{what} failed",
                                   severity="error", timeout=10)
        return None

    async def wait(self) -> None:
        """Wait until every call started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
