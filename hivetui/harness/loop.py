"""The harness turn loop: wait for the inbox, run one turn, report it, repeat.

Messages are received under lease and acknowledged only after a turn that ended ok (or ok
after compaction). A failed, timed-out or killed turn leaves them in the inbox: the report
names them and the reason, the bus counts the attempt, and the next turn gets them again
(until ``harness.max_attempts``, when the bus sets them aside as dead), after a backoff
that doubles while turns keep failing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hivetui.core.backoff import Backoff
from hivetui.core.errors import HarnessError
from hivetui.core.kinds import MESSAGE_KINDS
from hivetui.core.names import OPERATOR
from hivetui.harness.client import BridgeUnreachable, HarnessApi, InboxMessage, TurnReport
from hivetui.harness.runtime import (
    AgentIdentity,
    Runtime,
    TurnContext,
    TurnResult,
    format_messages,
)
from hivetui.harness.transcript import TranscriptStream

log = logging.getLogger(__name__)

OK_OUTCOMES = ("ok", "compact_retry")
STATUS_DETAIL_MAX = 500  # the bridge's limit for set_status
TRANSCRIPT_DRAIN_S = 5.0  # leaving: how long the last turn's transcript may take to go out
TOKEN_KEYS = ("tokens_in", "tokens_out", "cache_read", "cache_write")


@dataclass(frozen=True)
class LoopConfig:
    turn_timeout_s: float = 1800.0
    notes_compact_bytes: int = 64 * 1024
    compact_timeout_s: float = 300.0
    recv_wait_s: float = 30.0
    recv_max: int = 20
    max_turns: int | None = None  # stop after this many turns (tests, one-shot runs)
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    # after a failed turn, wait this long before the next (doubling while turns keep
    # failing): a passing outage, or an operator fixing a credential, gets time before the
    # messages' attempts run out
    retry_backoff_s: float = 10.0
    retry_backoff_max_s: float = 300.0


def read_model_file(state_dir: Path) -> str | None:
    """``/state/model``: the operator's persisted override (``--persist``), if any."""
    try:
        text = (state_dir / "model").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def resolve_model(settings: Mapping[str, Any], file_model: str | None, default: str) -> str:
    """Operator override at run time > ``/state/model`` > the agent's settings model."""
    override = settings.get("model_override")
    if isinstance(override, str) and override.strip():
        return override.strip()
    if file_model:
        return file_model
    model = settings.get("model")
    if isinstance(model, str) and model.strip():
        return model.strip()
    return default


def model_shown(requested: str, ran: str | None) -> str:
    """The model for the operator: both names when the runtime ran another one."""
    return f"{ran} (asked {requested})" if ran and ran != requested else requested


def idle_detail(result: TurnResult, duration_s: float, requested: str) -> str:
    """The status after a turn: its outcome, a failure's reason in the runtime's words,
    and the model when it was not the one asked for."""
    if result.outcome in OK_OUTCOMES:
        text = f"last turn {result.outcome} in {duration_s:.1f}s"
    else:
        # the reason first: a narrow DETAIL column still shows its start
        text = f"{result.failure} (last turn failed after {duration_s:.1f}s)"
    if result.model and result.model != requested:
        suffix = f" [model {model_shown(requested, result.model)}]"
        return text[:STATUS_DETAIL_MAX - len(suffix)] + suffix
    return text[:STATUS_DETAIL_MAX]


def count_kinds(values: Iterable[str]) -> dict[str, int]:
    counts = Counter(values)
    return {k: counts[k] for k in MESSAGE_KINDS if counts[k]}


class TurnLoop:
    def __init__(self, client: HarnessApi, runtime: Runtime, agent: AgentIdentity, state_dir: Path,
                 config: LoopConfig | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.agent = agent
        self.state_dir = state_dir
        self.config = config or LoopConfig()
        self.notes_file = state_dir / "notes.md"
        self.file_model = read_model_file(state_dir)
        if self.file_model:
            log.info("persisted model override from %s: %s", state_dir / "model", self.file_model)
        self.turns = 0
        self.last_failure = ""  # the previous turn's, shown while the next one retries
        self.failures = 0  # turns failed in a row
        self._retry = Backoff(self.config.retry_backoff_s, self.config.retry_backoff_max_s)
        self._kind_of: dict[str, str] = {OPERATOR: "operator"}  # learned from senders
        self.ack_file = state_dir / ".hive" / "recv_ack"
        self.acked = self._read_ack()
        self.transcript = TranscriptStream(client)

    # --- at-least-once receive: the last message id fully handled, kept in /state ----------
    def _read_ack(self) -> int:
        try:
            return max(0, int(self.ack_file.read_text().strip()))
        except (FileNotFoundError, ValueError):
            return 0

    def acknowledge(self, message_id: int) -> None:
        """Messages up to ``message_id`` were handled; the next recv tells the bus. Kept in
        /state so a harness that dies mid-turn gets the unhandled messages again."""
        self.acked = max(self.acked, message_id)
        self.ack_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.ack_file.with_name("recv_ack.tmp")
        tmp.write_text(f"{self.acked}\n")
        tmp.replace(self.ack_file)

    # --- the loop ---------------------------------------------------------------------
    async def run(self) -> int:
        """Run until a turn asks the harness to exit (its status) or ``max_turns``."""
        sender = asyncio.create_task(self.transcript.run(), name="transcript-sender")
        try:
            return await self._run()
        finally:
            sender.cancel()

    async def _run(self) -> int:
        backoff = Backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        announced = False
        while self.config.max_turns is None or self.turns < self.config.max_turns:
            try:
                if not announced:
                    await self.client.set_status("idle", "harness started")
                    announced = True
                messages = await self.client.recv(self.config.recv_wait_s, self.config.recv_max,
                                                  ack=self.acked)
                status = await self.turn(messages) if messages else None
                if messages and status is None and self.failures and not self._last_turn():
                    await asyncio.sleep(self.retry_delay())
                if status is not None:
                    # a deliberate exit: tell the bus what the turns handled
                    await self.client.ack(self.acked)
            except BridgeUnreachable as exc:
                delay = backoff.next()
                log.warning("%s; reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                await self._reconnect()
                continue
            backoff.reset()
            if status is not None:
                log.warning("runtime %s asked the harness to exit with status %s",
                            self.runtime.name, status)
                return status
        if self.turns:
            try:  # leaving after max_turns: the last turn's transcript goes out first
                await self.transcript.drain(TRANSCRIPT_DRAIN_S)
            except TimeoutError:
                log.warning("leaving with %d transcript event(s) unsent", self.transcript.queued)
            try:  # leaving after max_turns: tell the bus what was handled
                await self.client.ack(self.acked)
            except BridgeUnreachable as exc:
                log.warning("could not acknowledge on exit (the next harness will): %s", exc)
        return 0

    def _last_turn(self) -> bool:
        return self.config.max_turns is not None and self.turns >= self.config.max_turns

    def retry_delay(self) -> float:
        """Seconds to wait after the latest of ``failures`` failed turns in a row."""
        return self._retry.delay(self.failures)

    async def _reconnect(self) -> None:
        reconnect = getattr(self.client, "reconnect", None)
        if reconnect is None:
            return
        try:
            await reconnect()
        except BridgeUnreachable as exc:
            log.warning("reconnect failed: %s", exc)

    async def turn(self, messages: list[InboxMessage]) -> int | None:
        """One turn for ``messages``; returns an exit status when the harness should stop."""
        self.turns += 1
        for m in messages:
            if m.sender not in self._kind_of or m.kind in ("manager", "operator"):
                self._kind_of[m.sender] = m.kind
        settings = await self.client.get_settings()
        model = resolve_model(settings, self.file_model, self.agent.settings.model)
        notes_detail = await self.maybe_compact_notes(model)
        senders = ", ".join(dict.fromkeys(m.sender for m in messages))
        retry = f"; retrying after: {self.last_failure}" if self.last_failure else ""
        await self.client.set_status(
            "in_turn", (f"turn {self.turns}: {len(messages)} message(s) from {senders} "
                        f"(model {model}){retry}")[:STATUS_DETAIL_MAX])
        started = time.monotonic()
        emit = self.transcript.emitter(self.turns)
        emit({"kind": "prompt", "ts": time.time(), "text": format_messages(messages),
              "model": model, "messages": [m.id for m in messages]})
        ctx = TurnContext(messages=tuple(messages), model=model, turn_no=self.turns, emit=emit)
        try:
            async with asyncio.timeout(self.config.turn_timeout_s):
                result = await self.runtime.run_turn(ctx)
        except TimeoutError:
            log.error("turn %s of %s timed out after %.0fs: runtime killed", self.turns,
                      self.agent.name, self.config.turn_timeout_s)
            reason = f"turn timed out after {self.config.turn_timeout_s:g}s; runtime killed"
            result = TurnResult(outcome="failure", detail=reason, failure=reason)
        except HarnessError as exc:
            log.error("turn %s of %s failed: %s", self.turns, self.agent.name, exc)
            result = TurnResult(outcome="failure", detail=str(exc), failure=str(exc))
        duration = time.monotonic() - started
        if result.outcome not in OK_OUTCOMES:
            emit({"kind": "error", "ts": time.time(),
                  "text": result.failure or result.detail or "turn failed"})
        emit({"kind": "end", "ts": time.time(), "outcome": result.outcome,
              "duration_s": round(duration, 3), "cost_usd": max(0.0, result.cost_usd),
              **{k: max(0, int(result.tokens.get(k, 0))) for k in TOKEN_KEYS}})
        if result.outcome in OK_OUTCOMES:
            self.acknowledge(max(m.id for m in messages))
            self.last_failure, self.failures = "", 0
        else:
            result.failure = result.failure or result.detail or "turn failed"
            self.last_failure = result.failure
            self.failures += 1
        model_used = model_shown(model, result.model)
        detail = "; ".join(d for d in (f"model={model_used}", result.detail, notes_detail) if d)
        report = TurnReport(
            outcome=result.outcome, duration_s=duration,
            tool_calls={k: v for k, v in sorted(result.tool_calls.items()) if v},
            cost_usd=round(result.cost_usd, 6),
            sent=count_kinds(self._kind_of.get(to, "peer")
                             for to, n in result.sent_to.items() for _ in range(n)),
            received=count_kinds(m.kind for m in messages),
            notes_bytes=self.notes_bytes(), detail=detail,
            messages=tuple(m.id for m in messages), failure=result.failure,
        )
        await self.client.report_turn(report)
        if result.waiting_operator:
            await self.client.set_status("waiting_operator", result.waiting_operator[:200])
        else:
            await self.client.set_status("idle", idle_detail(result, duration, model))
        return result.exit_status

    # --- notes ---------------------------------------------------------------------------
    def notes_bytes(self) -> int:
        try:
            return self.notes_file.stat().st_size
        except FileNotFoundError:
            return 0

    async def maybe_compact_notes(self, model: str) -> str:
        """Compact ``notes.md`` when past the limit; returns a detail line ('' if nothing)."""
        size = self.notes_bytes()
        limit = self.config.notes_compact_bytes
        if size <= limit:
            return ""
        await self.client.set_status("in_turn", f"compacting notes ({size} bytes > {limit})")
        old = self.notes_file.read_text(encoding="utf-8", errors="replace")
        backup = self.notes_file.with_name(self.notes_file.name + ".bak")
        shutil.copy2(self.notes_file, backup)
        try:
            async with asyncio.timeout(self.config.compact_timeout_s):
                new = await self.runtime.compact_notes(old, limit, model)
        except TimeoutError:
            log.error("notes compaction timed out after %.0fs", self.config.compact_timeout_s)
            return f"notes compaction timed out after {self.config.compact_timeout_s:g}s"
        except HarnessError as exc:
            log.error("notes compaction failed: %s", exc)
            return f"notes compaction failed: {exc}"
        new_size = len(new.encode())
        if not new.strip() or new_size >= size:
            log.error("notes compaction gave %s bytes from %s: keeping the old notes",
                      new_size, size)
            return f"notes compaction did not shrink the notes ({size} -> {new_size} bytes)"
        tmp = self.notes_file.with_name(self.notes_file.name + ".tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, self.notes_file)
        log.info("notes compacted: %s -> %s bytes (old kept in %s)", size, new_size, backup)
        return f"notes compacted {size} -> {new_size} bytes"
