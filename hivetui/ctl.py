"""`hivetui ctl …`: one-shot operator commands against a running core.

Everything printed passes through the one sanitizer (:mod:`hivetui.core.visible`): agent
text (bodies, questions, details, log lines) is shown, never interpreted by the terminal;
one-line fields show an agent's newlines (``␊``) rather than start a line of their own.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click

from hivetui.cli_flags import CLIENT_FLAGS, Common, FlagsGroup, common, common_options
from hivetui.control.client import ControlClient
from hivetui.control.protocol import to_jsonable
from hivetui.core.events import RECENT_EVENTS, Event
from hivetui.core.visible import json_visible, visible, visible_line

if TYPE_CHECKING:
    from hivetui.core.bus import BusMessage


RECENT_SHOWN = 50  # events `ctl events` prints without --limit
DETAIL_WIDTH = 120  # of the status detail in `ctl agents` (the whole text: --json)


def _age(ts: float | None) -> str:
    if ts is None:
        return "-"
    s = max(0, int(time.time() - ts))
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _inbox_line(m: BusMessage) -> str:
    line = (f"#{m.id} {time.strftime('%H:%M:%S', time.localtime(m.ts))} {m.sender} -> "
            f"{m.recipient} [{m.kind}] {visible_line(m.body)}")
    failure = visible_line(m.last_failure or "")
    if m.dead_at is not None:
        line += f"\n    dead after {m.attempts} failed turn(s): {failure}"
    elif m.delivered_at is None and m.last_failure:
        line += (f"\n    waiting: {m.attempts} turn(s) had it, not acknowledged; last "
                 f"failure: {failure}")
    return line


def _json(value: Any) -> str:
    return json_visible(json.dumps(value, ensure_ascii=False))


class Output:
    """What a ctl command prints: JSON (--json) or text for people, both sanitized."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def show(self, value: Any, human: Callable[[], str]) -> None:
        print(_json(to_jsonable(value)) if self.as_json else visible(human()), flush=True)


CtlBody = Callable[..., Awaitable[int | None]]


@click.group(cls=FlagsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@common_options(*CLIENT_FLAGS)
@click.pass_context
def ctl(ctx: click.Context) -> None:
    """One-shot operator commands against a running core.

    Each takes --json (machine output; an error as one JSON object on stderr).

    \b
    Example:
      hivetui ctl --state-dir ~/hive agents --json
    """
    common(ctx).prefix = "hivetui ctl"


def ctl_command(name: str, check: Callable[[dict[str, Any]], None] | None = None
                ) -> Callable[[CtlBody], click.Command]:
    """A `ctl NAME` command from ``async def body(api, out, **params)``: the command
    runs ``check(params)`` (which may raise a usage error), connects to the core, runs
    the body, and exits with what it returns (None: 0)."""
    def decorate(body: CtlBody) -> click.Command:
        @functools.wraps(body)
        def callback(**params: Any) -> int:
            if check is not None:
                check(params)
            flags = common(click.get_current_context())
            from hivetui.cli import setup_logging

            setup_logging(None, flags.verbose)
            return asyncio.run(_connected(body, flags, params))

        return ctl.command(name)(common_options(*CLIENT_FLAGS)(callback))
    return decorate


async def _connected(body: CtlBody, flags: Common, params: dict[str, Any]) -> int:
    timeout_s = flags.control_timeout()
    async with await ControlClient.connect(flags.control_socket, timeout_s=timeout_s) as api:
        return await body(api, Output(flags.json), **params) or 0


@ctl_command("agents")
async def _agents(api: ControlClient, out: Output) -> None:
    """List agents with state, model, inbox depth.

    \b
    Example:
      hivetui ctl agents --json
    """
    agents = await api.agents()
    out.show(agents, lambda: _table(
        [[visible_line(cell) for cell in (
            a.name, a.role, a.state + (" (crash-loop)" if a.crash_looping else ""),
            a.status, a.effective_model, str(a.inbox_depth), _age(a.last_turn_at),
            ",".join(a.flags), " ".join(a.status_detail.split())[:DETAIL_WIDTH])]
         for a in agents],
        ["NAME", "ROLE", "STATE", "STATUS", "MODEL", "INBOX", "LAST TURN", "FLAGS",
         "DETAIL"]))


@ctl_command("agent")
@click.argument("name")
async def _agent(api: ControlClient, out: Output, name: str) -> None:
    """One agent, everything known about it.

    \b
    Example:
      hivetui ctl agent alice --json
    """
    a = await api.agent(name)
    out.show(a, lambda: "\n".join(
        f"{key}: {_field(key, value)}" for key, value in to_jsonable(a).items()))


def _field(key: str, value: Any) -> str:
    """One field of a record for people: times with their age, lists comma-separated."""
    if key.endswith("_at") and isinstance(value, int | float):
        return f"{time.strftime('%F %T', time.localtime(value))} ({_age(value)} ago)"
    if isinstance(value, list):
        return ", ".join(visible_line(str(v)) for v in value) or "-"
    return "-" if value is None else visible_line(str(value))


@ctl_command("spawn")
@click.argument("name")
@click.option("--runtime", default=None, metavar="RUNTIME",
              help="claude, or scripted:<behaviour> (default: the config's)")
@click.option("--manager", is_flag=True, help="spawn the manager")
async def _spawn(api: ControlClient, out: Output, name: str, runtime: str | None,
                 manager: bool) -> None:
    """Spawn an agent, operator-side: no approval needed.

    \b
    Example:
      hivetui ctl spawn alice --runtime scripted:echo
    """
    a = await api.spawn(name, runtime, manager)
    out.show(a, lambda: f"spawned {a.name} ({a.role}, {a.runtime})")


def _lifecycle(op: str, summary: str) -> None:
    async def body(api: ControlClient, out: Output, name: str) -> None:
        await getattr(api, op)(name)
        out.show({"ok": True, "agent": name, "operation": op}, lambda: f"{op}: {name} done")

    body.__doc__ = f"{summary}\n\n\b\nExample:\n  hivetui ctl {op} alice\n"
    ctl_command(op)(click.argument("name")(body))


_lifecycle("start", "Start an agent's container.")
_lifecycle("stop", "Stop an agent's container.")
_lifecycle("restart", "Restart an agent's container.")
_lifecycle("destroy", "Destroy an agent (its state is kept: see kept, revive, purge).")
_lifecycle("rebuild", "Rebuild an agent's container from its configuration.")


@ctl_command("send")
@click.argument("name")
@click.argument("text")
async def _send(api: ControlClient, out: Output, name: str, text: str) -> None:
    """Send a message from the operator to NAME.

    \b
    Example:
      hivetui ctl send alice "review the parser change"
    """
    m = await api.send(name, text)
    out.show(m, lambda: f"sent #{m.id} to {m.recipient}")


@ctl_command("inbox")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="at most this many messages")
@click.option("--dead", is_flag=True,
              help="messages set aside after harness.max_attempts failed turns")
async def _inbox(api: ControlClient, out: Output, name: str, limit: int, dead: bool
                 ) -> None:
    """Recent messages to and from NAME.

    \b
    Example:
      hivetui ctl inbox alice --dead
    """
    msgs = await api.inbox(name, limit, dead)
    out.show(msgs, lambda: "\n".join(_inbox_line(m) for m in msgs) or (
        "(no dead messages)" if dead else "(no messages)"))


@ctl_command("approvals")
async def _approvals(api: ControlClient, out: Output) -> None:
    """Pending approvals (spawns and commits waiting for the operator).

    \b
    Example:
      hivetui ctl approvals
    """
    items = await api.approvals()
    out.show(items, lambda: _table(
        [[str(a.id), a.kind, a.agent, a.commit[:12], a.requested_by, _age(a.created_at)]
         for a in items], ["ID", "KIND", "AGENT", "COMMIT", "BY", "AGE"])
        if items else "(no pending approvals)")


@ctl_command("approve")
@click.argument("approval_id", metavar="ID", type=int)
async def _approve(api: ControlClient, out: Output, approval_id: int) -> None:
    """Approve a pending request.

    \b
    Example:
      hivetui ctl approve 3
    """
    ok = await api.approve(approval_id)
    out.show(ok, lambda: f"approved #{ok.id} ({ok.kind} {ok.agent})")


@ctl_command("deny")
@click.argument("approval_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="told to the agent that asked")
async def _deny(api: ControlClient, out: Output, approval_id: int, reason: str) -> None:
    """Deny a pending request, with a reason.

    \b
    Example:
      hivetui ctl deny 3 --reason "no network for this one"
    """
    no = await api.deny(approval_id, reason)
    out.show(no, lambda: f"denied #{no.id} ({no.kind} {no.agent}): {no.reason}")


@ctl_command("questions")
async def _questions(api: ControlClient, out: Output) -> None:
    """Pending questions from the manager.

    \b
    Example:
      hivetui ctl questions --json
    """
    qs = await api.questions()
    out.show(qs, lambda: "\n".join(
        visible_line(f"#{q.id} {q.agent}: {q.question}"
                     + (f"  [{' | '.join(q.options)}]" if q.options else ""))
        for q in qs) or "(no pending questions)")


@ctl_command("answer")
@click.argument("question_id", metavar="ID", type=int)
@click.argument("text")
async def _answer(api: ControlClient, out: Output, question_id: int, text: str) -> None:
    """Answer a pending question.

    \b
    Example:
      hivetui ctl answer 2 "yes, go ahead"
    """
    q = await api.answer(question_id, text)
    out.show(q, lambda: f"answered #{q.id}")


@ctl_command("model")
@click.argument("name")
@click.argument("model")
@click.option("--persist", is_flag=True, help="write it to the agent's settings too")
async def _model(api: ControlClient, out: Output, name: str, model: str, persist: bool
                 ) -> None:
    """Set an agent's model.

    \b
    Example:
      hivetui ctl model alice claude-sonnet-4-5 --persist
    """
    a = await api.set_model(name, model, persist)
    out.show(a, lambda: f"{a.name} model: {a.effective_model}"
             + (" (persisted)" if persist else ""))


@ctl_command("stats")
@click.argument("name")
@click.option("--since", type=float, default=3600.0, show_default=True, metavar="SECONDS",
              help="samples of the last SECONDS")
@click.option("--key", "keys", multiple=True, metavar="KEY",
              help="only this series (repeatable)")
@click.option("--points", type=click.IntRange(1), default=None,
              help="average each series into at most this many points (default: raw)")
async def _stats(api: ControlClient, out: Output, name: str, since: float,
                 keys: tuple[str, ...], points: int | None) -> None:
    """An agent's telemetry series.

    \b
    Example:
      hivetui ctl stats alice --since 600 --key cpu_pct --json
    """
    series = await api.stats(name, since, list(keys) or None, max_points=points)
    out.show(series, lambda: "\n".join(
        visible_line(f"{k}: n={len(v)} last={v[-1][1]:g}") for k, v in sorted(series.items()))
        or "(no samples)")


def _limit_without_follow(params: dict[str, Any]) -> None:
    if params["follow"] and params["limit"] is not None:
        raise click.UsageError("--limit counts recent events: it does not apply with --follow")


@ctl_command("events", check=_limit_without_follow)
@click.option("--follow", is_flag=True,
              help="print events as they happen, until interrupted (instead of recent ones)")
@click.option("--limit", type=click.IntRange(1, RECENT_EVENTS), default=None,
              help="without --follow: the last this many events (default 50)")
async def _events(api: ControlClient, out: Output, follow: bool, limit: int | None
                  ) -> None:
    """The hive's recent events, or with --follow its live event stream.

    One line per event; JSON lines with --json. Telemetry samples are live only.

    \b
    Example:
      hivetui ctl events --follow --json
    """
    if not follow:
        for ev in await api.recent_events(limit or RECENT_SHOWN):
            _print_event(ev, out.as_json)
        return
    async for ev in api.events():
        _print_event(ev, out.as_json)


def _print_event(ev: Event, as_json: bool) -> None:
    if as_json:
        print(_json(ev.to_dict()), flush=True)
        return
    rest = " ".join(f"{k}={v}" for k, v in ev.to_dict().items() if k not in ("event", "ts"))
    print(visible_line(f"{time.strftime('%H:%M:%S', time.localtime(ev.ts))} {ev.event} {rest}"),
          flush=True)


@ctl_command("logs")
@click.argument("name")
@click.option("--lines", type=click.IntRange(1), default=100, show_default=True,
              help="the last this many lines")
async def _logs(api: ControlClient, out: Output, name: str, lines: int) -> None:
    """An agent's container log.

    \b
    Example:
      hivetui ctl logs alice --lines 20
    """
    got = await api.logs(name, lines)
    out.show(got, lambda: "\n".join(visible_line(line) for line in got))


@ctl_command("kept")
async def _kept(api: ControlClient, out: Output) -> None:
    """Agents destroyed with their state kept.

    \b
    Example:
      hivetui ctl kept
    """
    names = await api.kept()
    out.show(names, lambda: "\n".join(names) or "(no kept agents)")


@ctl_command("drafts")
async def _drafts(api: ControlClient, out: Output) -> None:
    """Spawn drafts (agents the manager is preparing).

    \b
    Example:
      hivetui ctl drafts
    """
    drafts = await api.drafts()
    out.show(drafts, lambda: "\n".join(f"{d.name} {d.head[:12]}" for d in drafts)
             or "(no drafts)")


@ctl_command("revive")
@click.argument("name")
async def _revive(api: ControlClient, out: Output, name: str) -> None:
    """Revive a kept agent.

    \b
    Example:
      hivetui ctl revive alice
    """
    a = await api.revive(name)
    out.show(a, lambda: f"revived {a.name}")


def _confirmed(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if not value and not ctx.resilient_parsing:
        raise click.UsageError("purge deletes the agent's state for good: add --yes to "
                               "confirm", ctx=ctx)
    return value


@ctl_command("purge")
@click.argument("name")
@click.option("--yes", is_flag=True, callback=_confirmed, help="confirm (required)")
async def _purge(api: ControlClient, out: Output, name: str, yes: bool) -> None:
    """Delete a kept agent's state for good.

    \b
    Example:
      hivetui ctl purge alice --yes
    """
    await api.purge(name, name)
    out.show({"ok": True, "purged": name}, lambda: f"purged {name}")


@ctl_command("audit")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="the last this many entries")
async def _audit(api: ControlClient, out: Output, limit: int) -> None:
    """The audit log: who did what to which agent.

    \b
    Example:
      hivetui ctl audit --limit 10
    """
    entries = await api.audit(limit)
    out.show(entries, lambda: "\n".join(
        visible_line(f"{time.strftime('%F %T', time.localtime(e.ts))} {e.actor} {e.action} "
                     f"{e.target} {e.detail} {e.commit[:12]}".rstrip()) for e in entries))
