"""Run an API call from the UI: a refusal becomes a toast with its title, never a crash."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from textual.app import App

from hivetui.core.errors import HiveError

log = logging.getLogger(__name__)

T = TypeVar("T")


def show_error(app: App[Any], exc: BaseException) -> None:
    if isinstance(exc, HiveError):
        app.notify(exc.message, title=exc.title, severity="error", markup=False)
    else:
        app.notify(f"{type(exc).__name__}: {exc}", title="Unexpected error", severity="error",
                   markup=False)


async def attempt(app: App[Any], call: Awaitable[T], *, success: str | None = None
                  ) -> T | None:
    """Await ``call``; on failure show why (HiveError title + message) and return None."""
    try:
        result = await call
    except HiveError as exc:
        log.info("refused: %s: %s", exc.title, exc.message)
        show_error(app, exc)
        return None
    except Exception as exc:  # the UI must outlive any failure; it is logged and shown
        log.exception("operator action failed")
        show_error(app, exc)
        return None
    if success:
        app.notify(success, markup=False)
    return result
