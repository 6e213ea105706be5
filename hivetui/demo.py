"""`hivetui demo`: a throwaway hive that shows what hivetui does, with nothing to set up.

Local backend, a ``scripted:manager`` and two workers, and a scenario a newcomer can watch
and take part in: messages flowing, a spawn approval waiting for the operator, a question,
a worker crashing and the manager restarting it. ``--headless`` runs the same scenario,
answering for the operator, and prints its events; it exits 0 once the crash and the
recovery have been seen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hivetui.core.config import BackendName, HiveConfig
from hivetui.core.events import (
    AgentStarted,
    ApprovalRequested,
    ContainerCrash,
    Event,
    MessageSent,
    Notification,
    QuestionAsked,
)
from hivetui.core.operator import Operator, OperatorSession
from hivetui.core.paths import StatePaths

log = logging.getLogger(__name__)

MANAGER = "boss"
ECHO = "w1"
CRASHER = "w2"
NEWCOMER = "w3"
AGENTS = ((MANAGER, "scripted:manager", True), (ECHO, "scripted:echo", False),
          (CRASHER, "scripted:crash-after:2", False))


class DemoScenario:
    """Drives the demo as an operator would. ``auto`` answers approvals and questions.

    Its narration (a ``Notification`` each, a toast in the TUI) tells what no alert does:
    the approval, the question and the crash are toasted by the app itself, once each, so
    the narration announces them before they happen rather than repeating them after.
    """

    def __init__(self, api: OperatorSession, *, auto: bool, pace_s: float = 1.5,
                 say: Callable[[str], None] | None = None) -> None:
        self.api = api
        self.auto = auto
        self.pace_s = pace_s
        self.say = say or (lambda text: None)
        self.crashed = asyncio.Event()
        self.recovered = asyncio.Event()
        self.approval_seen = asyncio.Event()
        self.question_seen = asyncio.Event()
        self.echo_seen = asyncio.Event()
        self.crasher_answered = asyncio.Event()

    def _narrate(self, text: str) -> None:
        self.api.hive.hub.publish(Notification(level="info", title="demo", text=text))
        self.say(text)

    async def watch(self) -> None:
        """Follow the hive's events; answer for the operator when ``auto``."""
        async for ev in self.api.events():
            if isinstance(ev, MessageSent) and ev.recipient == "operator" and \
                    ev.sender == ECHO:
                self.echo_seen.set()
            elif isinstance(ev, MessageSent) and ev.recipient == "operator" and \
                    ev.sender == CRASHER:
                self.crasher_answered.set()
            elif isinstance(ev, ApprovalRequested):
                self.approval_seen.set()
                if self.auto:  # else the operator's own alert says how to approve it
                    await asyncio.sleep(self.pace_s)
                    await self.api.approve(ev.id)
            elif isinstance(ev, QuestionAsked):
                self.question_seen.set()
                if self.auto:  # else the operator's own alert says how to answer it
                    await asyncio.sleep(self.pace_s)
                    await self.api.answer(ev.id, ev.options[0] if ev.options else "yes")
            elif isinstance(ev, ContainerCrash) and ev.agent == CRASHER:
                self.crashed.set()
            elif isinstance(ev, AgentStarted) and ev.agent == CRASHER and self.crashed.is_set():
                self.recovered.set()

    async def run(self) -> None:
        pace = self.pace_s
        for name, runtime, manager in AGENTS:
            if self.api.hive.registry.find(name) is None:
                await self.api.spawn(name, runtime, manager)
        self._narrate("three agents are up: a manager (boss) and two workers (w1, w2)")
        await asyncio.sleep(pace)
        await self.api.send(ECHO, "hello w1, are you there?")
        await asyncio.wait_for(self.echo_seen.wait(), 30)
        self._narrate("w1 answered the operator; now the manager is asked for a new worker "
                      "(its spawn waits for your approval) and asks you a question")
        await asyncio.sleep(pace)
        await self.api.send(MANAGER, f"spawn {NEWCOMER} scripted:echo")
        await asyncio.sleep(pace)
        await self.api.send(MANAGER, "ask Should w3 start with the test suite?")
        await asyncio.sleep(pace)
        self._narrate("w2 is a worker that crashes after two turns: crash_watch tells the "
                      "manager, which restarts it — watch the fleet")
        # one task per turn: sent together, both could land in one turn and w2 never crash
        for i in range(2):
            self.crasher_answered.clear()
            await self.api.send(CRASHER, f"task {i + 1} for w2")
            await asyncio.wait_for(self.crasher_answered.wait(), 30)
        await asyncio.wait_for(self.crashed.wait(), 30)
        await asyncio.wait_for(self.recovered.wait(), 30)
        self._narrate("w2 is back: the demo scenario is complete; explore freely")


def _line(ev: Event) -> str:
    d = ev.to_dict()
    d.pop("ts", None)
    name = d.pop("event")
    return f"{time.strftime('%H:%M:%S')} {name} {json.dumps(d, ensure_ascii=False)}"


async def run_headless(state_dir: Path, config: HiveConfig, out: Callable[[str], None]
                       ) -> int:
    from hivetui.node import HiveNode

    async with HiveNode(state_dir, config) as node:
        api = OperatorSession(node.hive, Operator("demo"))
        scenario = DemoScenario(api, auto=True, pace_s=0.3, say=lambda t: None)
        printer = asyncio.create_task(_print_events(api, out))
        watcher = asyncio.create_task(scenario.watch())
        try:
            await asyncio.wait_for(scenario.run(), 120)
        except TimeoutError:
            out("demo: the scenario did not complete in time")
            return 1
        finally:
            await asyncio.sleep(0.2)
            for task in (printer, watcher):
                task.cancel()
            await node.stop_all()
        ok = scenario.crashed.is_set() and scenario.recovered.is_set()
        out(f"demo: crash seen: {scenario.crashed.is_set()}, recovered: "
            f"{scenario.recovered.is_set()}, approval: {scenario.approval_seen.is_set()}, "
            f"question: {scenario.question_seen.is_set()}")
        return 0 if ok else 1


async def _print_events(api: OperatorSession, out: Callable[[str], None]) -> None:
    async for ev in api.events():
        if ev.event in ("telemetry", "received", "agent_changed"):
            continue
        out(_line(ev))


def run_demo(state_dir: Path | None, config: HiveConfig, *, backend: BackendName | None,
             verbose: bool, headless: bool) -> int:
    """`hivetui demo`: on ``state_dir`` (kept), else on a temporary one (removed)."""
    from hivetui.cli import setup_logging

    config.backend = backend or "local"
    config.crash_watch.interval_s = 2.0
    keep = state_dir is not None
    state_dir = state_dir or Path(tempfile.mkdtemp(prefix="hivetui-demo-"))
    setup_logging(StatePaths(state_dir), verbose, logs=config.logs)
    try:
        if headless:
            def out(line: str) -> None:
                print(line, flush=True)

            return asyncio.run(run_headless(state_dir, config, out))
        from hivetui.tui.run import run_demo_tui

        return asyncio.run(run_demo_tui(state_dir, config))
    finally:
        if not keep:
            shutil.rmtree(state_dir, ignore_errors=True)
        else:
            print(f"demo state kept in {state_dir}", file=sys.stderr)
