"""`hivetui ctl …`: one-shot operator commands against a running core.

Everything printed passes through the one sanitizer (:mod:`hivetui.core.visible`): agent
text (bodies, questions, details, log lines) is shown, never interpreted by the terminal;
one-line fields show an agent's newlines (``␊``) rather than start a line of their own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hivetui import ctl_transcript
from hivetui.control.client import ControlClient
from hivetui.control.protocol import to_jsonable
from hivetui.core.config import default_state_dir, load_config
from hivetui.core.paths import StatePaths
from hivetui.core.visible import json_visible, visible, visible_line

if TYPE_CHECKING:
    from hivetui.core.bus import BusMessage


def add_ctl_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    ctl = sub.add_parser("ctl", help="one-shot operator commands against a running core")
    common(ctl)
    ctl.add_argument("--json", action="store_true", help="machine output")
    ctl.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="give up on a request the core has not answered after SECONDS "
                          "(default: control.timeout_s, 300)")
    cmds = ctl.add_subparsers(dest="ctl_command", required=True)

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = cmds.add_parser(name, help=help_)
        # SUPPRESS: absent after the subcommand, they keep a value given before it
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="machine output")
        p.add_argument("--timeout", type=float, default=argparse.SUPPRESS, metavar="SECONDS",
                       help="as ctl --timeout")
        return p

    cmd("agents", "list agents with state, model, inbox depth")
    p = cmd("spawn", "operator-side spawn, no approval needed")
    p.add_argument("name")
    p.add_argument("--runtime", default=None)
    p.add_argument("--manager", action="store_true")
    for op in ("start", "stop", "restart", "destroy", "rebuild"):
        cmd(op, f"{op} an agent's container").add_argument("name")
    p = cmd("send", "message from the operator")
    p.add_argument("name")
    p.add_argument("text")
    p = cmd("inbox", "recent messages to/from NAME")
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--dead", action="store_true",
                   help="messages set aside after harness.max_attempts failed turns")
    cmd("approvals", "pending approvals")
    cmd("approve", "approve a request").add_argument("id", type=int)
    p = cmd("deny", "deny a request")
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True)
    cmd("questions", "pending questions")
    p = cmd("answer", "answer a question")
    p.add_argument("id", type=int)
    p.add_argument("text")
    p = cmd("model", "set an agent's model")
    p.add_argument("name")
    p.add_argument("model")
    p.add_argument("--persist", action="store_true")
    p = cmd("stats", "telemetry series")
    p.add_argument("name")
    p.add_argument("--since", type=float, default=3600.0)
    p.add_argument("--key", action="append", default=None)
    p.add_argument("--points", type=int, default=None,
                   help="average each series into at most this many points (default: raw)")
    p = cmd("events", "the live event stream")
    p.add_argument("--follow", action="store_true")
    p = cmd("logs", "an agent's container log")
    p.add_argument("name")
    p.add_argument("--lines", type=int, default=100)
    cmd("kept", "agents destroyed with their state kept")
    cmd("drafts", "spawn drafts")
    cmd("revive", "revive a kept agent").add_argument("name")
    p = cmd("purge", "delete a kept agent's state for good")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="confirm without asking")
    p = cmd("audit", "the audit log")
    p.add_argument("--limit", type=int, default=50)
    p = cmd("transcript", "an agent's turn: what it said, ran and got back")
    p.add_argument("name")
    p.add_argument("--turn", type=int, default=None, help="this turn (default: the newest)")
    p.add_argument("--follow", action="store_true", help="the newest turn, then live")
    p.add_argument("--markdown", action="store_true", help="the whole turn as Markdown")


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


async def run_ctl(args: argparse.Namespace) -> int:
    from hivetui.core.errors import ConfigError, HiveError

    state_dir = args.state_dir or default_state_dir()
    socket = args.socket or StatePaths(state_dir).control_socket
    as_json = bool(args.json)
    try:
        timeout_s = _timeout(args)
        async with await ControlClient.connect(socket, timeout_s=timeout_s) as api:
            return await _dispatch(api, args, as_json)
    except ConfigError as exc:
        print(f"hivetui ctl: {exc.title}: {exc.message}", file=sys.stderr)
        return 2
    except HiveError as exc:
        print(visible(f"hivetui ctl: {exc.title}: {exc.message}"), file=sys.stderr)
        return 1


def _json(value: Any) -> str:
    return json_visible(json.dumps(value, ensure_ascii=False))


def _timeout(args: argparse.Namespace) -> float:
    """--timeout, else the config's control.timeout_s."""
    if args.timeout is None:
        return load_config(args.config).control.timeout_s
    if not 0 < args.timeout <= 86400:
        from hivetui.core.errors import ConfigError

        raise ConfigError(f"--timeout must be more than 0 and at most 86400 (seconds), "
                          f"got {args.timeout:g}")
    return float(args.timeout)


def _out(value: Any, as_json: bool, human: Callable[[], str]) -> None:
    print(_json(to_jsonable(value)) if as_json else visible(human()))


async def _dispatch(api: ControlClient, args: argparse.Namespace, as_json: bool) -> int:
    c = args.ctl_command
    if c == "agents":
        agents = await api.agents()
        _out(agents, as_json, lambda: _table(
            [[visible_line(cell) for cell in (
                a.name, a.role, a.state + (" (crash-loop)" if a.crash_looping else ""),
                a.status, a.effective_model, str(a.inbox_depth), _age(a.last_turn_at),
                ",".join(a.flags), " ".join(a.status_detail.split())[:DETAIL_WIDTH])]
             for a in agents],
            ["NAME", "ROLE", "STATE", "STATUS", "MODEL", "INBOX", "LAST TURN", "FLAGS",
             "DETAIL"]))
    elif c == "spawn":
        a = await api.spawn(args.name, args.runtime, args.manager)
        _out(a, as_json, lambda: f"spawned {a.name} ({a.role}, {a.runtime})")
    elif c in ("start", "stop", "restart", "destroy", "rebuild"):
        await getattr(api, c)(args.name)
        _out({"ok": True, "agent": args.name, "operation": c}, as_json,
             lambda: f"{c}: {args.name} done")
    elif c == "send":
        m = await api.send(args.name, args.text)
        _out(m, as_json, lambda: f"sent #{m.id} to {m.recipient}")
    elif c == "inbox":
        msgs = await api.inbox(args.name, args.limit, args.dead)
        _out(msgs, as_json, lambda: "\n".join(_inbox_line(m) for m in msgs) or (
            "(no dead messages)" if args.dead else "(no messages)"))
    elif c == "approvals":
        items = await api.approvals()
        _out(items, as_json, lambda: _table(
            [[str(a.id), a.kind, a.agent, a.commit[:12], a.requested_by, _age(a.created_at)]
             for a in items], ["ID", "KIND", "AGENT", "COMMIT", "BY", "AGE"])
             if items else "(no pending approvals)")
    elif c == "approve":
        ok = await api.approve(args.id)
        _out(ok, as_json, lambda: f"approved #{ok.id} ({ok.kind} {ok.agent})")
    elif c == "deny":
        no = await api.deny(args.id, args.reason)
        _out(no, as_json, lambda: f"denied #{no.id} ({no.kind} {no.agent}): {no.reason}")
    elif c == "questions":
        qs = await api.questions()
        _out(qs, as_json, lambda: "\n".join(
            visible_line(f"#{q.id} {q.agent}: {q.question}"
                         + (f"  [{' | '.join(q.options)}]" if q.options else ""))
            for q in qs)
             or "(no pending questions)")
    elif c == "answer":
        q = await api.answer(args.id, args.text)
        _out(q, as_json, lambda: f"answered #{q.id}")
    elif c == "model":
        a = await api.set_model(args.name, args.model, args.persist)
        _out(a, as_json, lambda: f"{a.name} model: {a.effective_model}"
             + (" (persisted)" if args.persist else ""))
    elif c == "stats":
        series = await api.stats(args.name, args.since, args.key, max_points=args.points)
        _out(series, as_json, lambda: "\n".join(
            visible_line(f"{k}: n={len(v)} last={v[-1][1]:g}") for k, v in sorted(series.items()))
             or "(no samples)")
    elif c == "events":
        async for ev in api.events():
            if as_json:
                print(_json(ev.to_dict()), flush=True)
            else:
                d = ev.to_dict()
                rest = " ".join(f"{k}={v}" for k, v in d.items() if k not in ("event", "ts"))
                print(visible_line(
                    f"{time.strftime('%H:%M:%S', time.localtime(ev.ts))} {ev.event} {rest}"),
                    flush=True)
            if not args.follow:
                break
    elif c == "logs":
        lines = await api.logs(args.name, args.lines)
        _out(lines, as_json, lambda: "\n".join(visible_line(line) for line in lines))
    elif c == "kept":
        names = await api.kept()
        _out(names, as_json, lambda: "\n".join(names) or "(no kept agents)")
    elif c == "drafts":
        drafts = await api.drafts()
        _out(drafts, as_json, lambda: "\n".join(f"{d.name} {d.head[:12]}" for d in drafts)
             or "(no drafts)")
    elif c == "revive":
        a = await api.revive(args.name)
        _out(a, as_json, lambda: f"revived {a.name}")
    elif c == "purge":
        if not args.yes:
            print(f"hivetui ctl: purge deletes {args.name}'s state for good; "
                  "add --yes to confirm", file=sys.stderr)
            return 1
        await api.purge(args.name, args.name)
        _out({"ok": True, "purged": args.name}, as_json, lambda: f"purged {args.name}")
    elif c == "transcript":
        if as_json and args.markdown:
            print("hivetui ctl: transcript takes --json or --markdown, not both",
                  file=sys.stderr)
            return 2
        fmt = "json" if as_json else "markdown" if args.markdown else "text"
        return await ctl_transcript.show(api, args.name, turn=args.turn, follow=args.follow,
                                         fmt=fmt, write=lambda line: print(line, flush=True))
    elif c == "audit":
        entries = await api.audit(args.limit)
        _out(entries, as_json, lambda: "\n".join(
            visible_line(f"{time.strftime('%F %T', time.localtime(e.ts))} {e.actor} {e.action} "
                         f"{e.target} {e.detail} {e.commit[:12]}".rstrip()) for e in entries))
    return 0
