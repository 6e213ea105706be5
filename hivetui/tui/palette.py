"""Hive commands in the command palette (ctrl+p): screens, and actions on each agent."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from hivetui.tui.commands import AgentAction, Command, Navigate, OpenAgent
from hivetui.tui.context import HiveContext
from hivetui.tui.messages import HiveCommand

_SCREENS = (("Fleet", "agents", "every agent"),
            ("Approvals", "approvals", "the queue of requests waiting for you"),
            ("Questions", "questions", "questions from the manager"),
            ("Kept agents", "kept", "revive or purge destroyed agents' state"),
            ("Help", "help", "every key and command"))
_AGENT_ACTIONS = (("Open", None), ("Logs of", "logs"), ("Messages of", "messages"),
                  ("Transcript of", "transcript"),
                  ("Start", "start"), ("Stop", "stop"), ("Restart", "restart"),
                  ("Rebuild", "rebuild"), ("Destroy", "destroy"))


class HasHiveContext(Protocol):
    hive_context: HiveContext


class HiveCommands(Provider):
    def _entries(self) -> list[tuple[str, str, Command]]:
        ctx = cast(HasHiveContext, self.app).hive_context
        out: list[tuple[str, str, Command]] = [
            (f"Go to {title}", help_text, Navigate(target))
            for title, target, help_text in _SCREENS
        ]
        for name in sorted(ctx.state.agents):
            for verb, what in _AGENT_ACTIONS:
                command: Command
                if what is None:
                    command = OpenAgent(name)
                elif what in ("logs", "messages", "transcript"):
                    command = OpenAgent(name, what)
                else:
                    command = AgentAction(what, name)
                out.append((f"{verb} {name}", f"agent {name}", command))
        return out

    def _post(self, command: Command) -> Callable[[], object]:
        return partial(self.app.post_message, HiveCommand(command))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, command in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._post(command), text=title,
                          help=help_text)

    async def discover(self) -> Hits:
        for title, help_text, command in self._entries()[: len(_SCREENS)]:
            yield DiscoveryHit(title, self._post(command), text=title, help=help_text)
