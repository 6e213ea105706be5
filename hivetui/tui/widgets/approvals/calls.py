"""Operator API calls started from a screen, run so that they outlive the screen.

An approve may rebuild a container and take a while; closing the screen must not cancel
it half-way inside the (embedded) core, so calls run as workers of the app, not of the
screen (a worker dies with its DOM node). A ``HiveError`` becomes an error toast with its
title and message; anything else is logged with its traceback and toasted too: never a
crash of the UI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from textual.dom import DOMNode
from textual.worker import Worker

from hivetui.core.errors import HiveError

log = logging.getLogger(__name__)

T = TypeVar("T")


class ApiCalls:
    """Runs API calls for ``owner``; at most one call per key at a time."""

    def __init__(self, owner: DOMNode) -> None:
        self._owner = owner
        self._workers: dict[str, Worker[None]] = {}

    def busy(self, key: str) -> bool:
        worker = self._workers.get(key)
        return worker is not None and not worker.is_finished

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
        self._workers = {k: w for k, w in self._workers.items() if not w.is_finished}
        self._workers[key] = app.run_worker(self._call(what, call, on_success), name=what,
                                            group="api-calls", exit_on_error=False)
        return True

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
        while running := [w for w in self._workers.values() if not w.is_finished]:
            await asyncio.gather(*(w.wait() for w in running), return_exceptions=True)
