"""Carries out a :class:`~hivetui.tui.commands.Command`, whoever asked for it.

Keys, the `:` line, the palette and the compose box all post ``HiveCommand``; the app
hands each to :meth:`CommandRunner.run` in a worker. Refusals become toasts (``attempt``);
a read-only session is told at once what it may not do (no progress toast, no dialog).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from textual.app import App
from textual.screen import Screen

from hivetui.core.errors import NotFoundError
from hivetui.tui.commands import (
    AgentAction,
    Command,
    Grep,
    Navigate,
    OpenAgent,
    Quit,
    Send,
    SetModel,
    Spawn,
)
from hivetui.tui.context import HiveContext
from hivetui.tui.guard import attempt, show_error
from hivetui.tui.screens.fleet import FleetScreen
from hivetui.tui.screens.read_only import refuse_read_only

log = logging.getLogger(__name__)

_DONE = {"start": "started", "stop": "stopped", "restart": "restarted",
         "rebuild": "rebuilt", "destroy": "destroyed"}


class CommandRunner:
    def __init__(self, app: App[None], ctx: HiveContext) -> None:
        self.app = app
        self.ctx = ctx
        self._asking = False

    async def run(self, command: Command) -> None:
        log.info("command %s", command)
        what = _mutation(command)
        if what is not None and refuse_read_only(self.app, self.ctx.api, what):
            return
        if isinstance(command, Navigate):
            await self.navigate(command.target)
        elif isinstance(command, OpenAgent):
            await self.open_agent(command.name, command.tab, command.turn)
        elif isinstance(command, Grep):
            from hivetui.tui.screens.grep import GrepScreen  # the first search loads it

            await self.to_fleet()
            await self.app.push_screen(GrepScreen(self.ctx, command.text))
        elif isinstance(command, AgentAction):
            await self.agent_action(command.action, command.name, by_key=command.by_key)
        elif isinstance(command, SetModel):
            view = await attempt(self.app, self.ctx.api.set_model(
                command.name, command.model, command.persist))
            if view is not None:
                self.app.notify(f"{command.name} now uses {view.effective_model}"
                                f"{' (persisted)' if command.persist else ''}",
                                title="Model", markup=False)
        elif isinstance(command, Spawn):
            await attempt(self.app, self.ctx.api.spawn(command.name, command.runtime,
                                                       command.manager),
                          success=f"spawned {command.name}")
        elif isinstance(command, Send):
            await attempt(self.app, self.ctx.api.send(command.name, command.text),
                          success=f"sent to {command.name}")
        elif isinstance(command, Quit):
            self.app.exit()

    async def navigate(self, target: str) -> None:
        if target == "agents":
            await self.to_fleet()
        elif target == "help":
            await self.app.run_action("app.help")
        else:
            await self.open_queue(target)

    async def open_queue(self, target: str) -> None:
        """approvals | questions | kept: the screens of the approvals issue."""
        screen = _queue_screen(target, self.ctx)
        if screen is None:
            self.app.notify(f"no screen named {target}", title="Command", severity="error")
            return
        if type(self.app.screen) is type(screen):
            return
        await self.to_fleet()
        await self.app.push_screen(screen)

    async def to_fleet(self) -> None:
        while len(self.app.screen_stack) > 1 and not isinstance(self.app.screen, FleetScreen):
            self._keep_if_shell(self.app.screen)
            await self.app.pop_screen()

    def _keep_if_shell(self, screen: Screen[object]) -> None:
        """An agent screen whose shell runs is installed, so leaving it keeps the shell
        (a popped screen that is not installed is removed, and its shell hung up)."""
        from hivetui.tui.screens.agent_detail import AgentDetailScreen  # loaded by now

        if not isinstance(screen, AgentDetailScreen):
            return
        kept = self.app.is_screen_installed(screen)
        if screen.shell_running and not kept:
            self.app.install_screen(screen, _kept_name(screen.agent))
        elif kept and not screen.shell_running:
            self.app.uninstall_screen(screen)

    async def open_agent(self, name: str, tab: str = "overview", turn: int | None = None
                         ) -> None:
        # imported on the first open: its terminal emulator and charts cost start-up time
        from hivetui.tui.screens.agent_detail import AgentDetailScreen

        if name not in self.ctx.state.agents:
            show_error(self.app, NotFoundError(f"no agent named {name!r}"))
            return
        current = self.app.screen
        if isinstance(current, AgentDetailScreen) and current.agent == name:
            if turn is not None:
                current.show_turn(turn)
            else:
                current.action_tab(tab)
            return
        await self.to_fleet()
        kept = _kept_name(name)
        if self.app.is_screen_installed(kept):
            screen = self.app.get_screen(kept)
            await self.app.push_screen(screen)
            if isinstance(screen, AgentDetailScreen):
                if turn is not None:
                    screen.show_turn(turn)
                else:
                    screen.action_tab(tab)
            return
        await self.app.push_screen(AgentDetailScreen(self.ctx, name, tab, turn))

    async def agent_action(self, action: str, name: str, *, by_key: bool = False) -> None:
        api = self.ctx.api
        asks = action == "destroy" or (by_key and action in _ASKS)
        if asks and not await self._confirmed(action, name):
            return
        calls = {"start": api.start, "stop": api.stop, "restart": api.restart,
                 "rebuild": api.rebuild, "destroy": api.destroy}
        self.app.notify(f"{action} {name}…", markup=False, timeout=2)
        done = await attempt(self.app, _ok(calls[action](name)))
        if done:
            self.app.notify(f"{name} {_DONE[action]}", markup=False)
            if action == "destroy":
                await self.to_fleet()

    async def _confirmed(self, action: str, name: str) -> bool:
        """Ask before ``action``; a press that comes while a dialog is on its way is dropped.

        Commands run in workers, so a quick second press would otherwise stack a second
        dialog on the first (and answering one left the other to a screen half gone).
        """
        if self._asking:
            log.info("%s %s: a confirmation is already open; this press is dropped",
                     action, name)
            return False
        self._asking = True
        try:
            title, message = _ASKS[action]
            from hivetui.tui.screens.confirm import ConfirmScreen  # on the first question

            answer = await self.app.push_screen_wait(ConfirmScreen(
                title.format(name), message.format(name), confirm_label=action.capitalize()))
        finally:
            self._asking = False
        return answer is not None


#: The actions a stray key must not set off, with what their dialog says (a typed `:` line
#: or a palette choice is deliberate: only destroy asks then). An operator who believes a
#: shell still has the keyboard types letters and Enter: the dialog's Enter cancels, only
#: ctrl+s (or a click) confirms.
_ASKS = {
    "stop": ("Stop {}?", "The container h-{} stops; a turn in progress is cut short. "
                         "u starts it again."),
    "restart": ("Restart {}?", "The container h-{} stops and starts again; a turn in "
                               "progress is cut short."),
    "rebuild": ("Rebuild {}?", "The container h-{} is built again from its config and "
                               "restarted; a turn in progress is cut short."),
    "destroy": ("Destroy {}?", "The container h-{0} goes away; {0}'s state is kept and can "
                               "be revived from :kept."),
}


def _kept_name(agent: str) -> str:
    """The name an agent screen with a running shell is installed under."""
    return f"shell:{agent}"


def _mutation(command: Command) -> str | None:
    """What ``command`` would change in the hive (for a read-only refusal); None: nothing."""
    if isinstance(command, AgentAction):
        return f"{command.action} {command.name}"
    if isinstance(command, SetModel):
        return f"set {command.name}'s model"
    if isinstance(command, Spawn):
        return f"spawn {command.name}"
    if isinstance(command, Send):
        return f"send to {command.name}"
    return None


async def _ok(call: Awaitable[None]) -> bool:
    await call
    return True


def _queue_screen(target: str, ctx: HiveContext) -> Screen[None] | None:
    """The approvals / questions / kept screens (each imported when first opened); the
    app feeds them their live events."""
    if target == "approvals":
        from hivetui.tui.screens.approvals import ApprovalsScreen

        return ApprovalsScreen(ctx.api, clock=ctx.clock)
    if target == "questions":
        from hivetui.tui.screens.questions import QuestionsScreen

        return QuestionsScreen(ctx.api, clock=ctx.clock)
    if target == "kept":
        from hivetui.tui.screens.kept import KeptScreen

        return KeptScreen(ctx.api, clock=ctx.clock)
    return None
