"""The operator app's first frame drawn once, headless, over an empty hive: warm caches.

The SSH session zygote (:mod:`hivetui.zygote`) calls :func:`warm_up` after its imports
and before it forks any session. Drawing the fleet once fills what every session would
otherwise compute again at its own start: the parsed CSS of every stylesheet of the
first frame (:mod:`hivetui.tui.shared_css`), and Textual's and Rich's caches of styles,
colours and cell widths. The sessions still build their own app, their own screens and
their own connection; the warm-up never talks to a hive.

It leaves nothing running behind it: its event loop is closed, it starts no thread (a
fork must not inherit either), and its app is garbage once it returns.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any, cast

from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from hivetui.core.api import HiveAPI, Series
from hivetui.core.events import Event
from hivetui.core.views import AgentView, Approval, Question
from hivetui.tui.app import create_app
from hivetui.tui.shared_css import parsed_sources

#: the size of the warm-up's screen (the sessions' own sizes differ: caches are by value)
SIZE = (120, 36)
#: how long the headless first frame may take before the warm-up gives up on it
TIMEOUT_S = 30.0


class EmptyHive:
    """The hive the warm-up draws: no agents, nothing pending, no events. It answers only
    what the fleet's first frame asks; any other request is an AttributeError."""

    operator = "warm-up"
    read_only = False  # the keys an operator who may act sees

    async def agents(self) -> list[AgentView]:
        return []

    async def approvals(self, include_resolved: bool = False) -> list[Approval]:
        return []

    async def questions(self, include_answered: bool = False) -> list[Question]:
        return []

    async def stats(self, name: str, since_s: float = 3600.0,
                    keys: list[str] | None = None, max_points: int | None = 600
                    ) -> Series:
        return {}

    async def events(self) -> AsyncIterator[Event]:
        await asyncio.Event().wait()  # never: an empty hive says nothing
        yield cast(Event, None)

    async def aclose(self) -> None:
        return None


async def _until_footer_keys(pilot: Pilot[Any]) -> None:
    """The fleet's first full frame: its footer shows the keys (composed after a refresh)."""
    app = pilot.app
    while not app.screen.query(FooterKey):
        await pilot.pause(0.01)
    await pilot.pause()
    app.exit()


async def _draw_once() -> None:
    app = create_app(cast(HiveAPI, EmptyHive()), where="attached", bell=False)
    await asyncio.wait_for(app.run_async(headless=True, size=SIZE,
                                         auto_pilot=_until_footer_keys), TIMEOUT_S)


def warm_up() -> int:
    """Draw the fleet once, headless; the number of parsed stylesheet sources it left."""
    asyncio.run(_draw_once())
    # the app froze its start-up heap (HiveApp._freeze_startup_heap): let the warm-up's own
    # app, screens and widgets be collected now that it is done
    gc.unfreeze()
    gc.collect()
    return parsed_sources()
