"""Benchmark: 20 agents each streaming 50 transcript events/s into the core, the TUI open on
one agent's live transcript.

Three processes, all real:

* the **core + TUI** child: an embedded hive (real sqlite), its MCP bridge (uvicorn on
  loopback) and the app on its own PTY (Textual's Linux driver; output read and discarded),
  open on ``w00``'s Transcript tab, following it;
* the **streamers** (``--parts`` processes sharing the 20 agents): each agent a real
  harness client (``HiveClient``) with the real ``TranscriptStream``, emitting 50 events/s
  (text, tool calls, cut tool results, a new turn every 100 events) through the bridge's
  ``transcript`` tool;
* an echo agent's harness (a process of its own) whose scripted turns (``TurnLoop.turn``:
  settings, status, a ``send``, the report) are timed with its transcript on and off,
  alternately, while the others stream;
* this process: writes ``up``/``down`` to the PTY (the transcript's cursor moves) and takes
  each key's latency as bench/tui.py does (the first frame written after the cursor moved,
  both clocks CLOCK_MONOTONIC) — first with no stream (``idle_key_p95_ms``), then with it.

Last line, one JSON object: ``events_per_s`` (ingested by the core), ``key_p95_ms``,
``idle_key_p95_ms``, ``turn_slowdown_ratio`` (median scripted turn with its transcript on
÷ off, both under the 20-agent load). Goals: ``key_p95_ms <= idle_key_p95_ms + 20`` and
``turn_slowdown_ratio <= 1.05``. ``--quick`` finishes within 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tui import Marks, hook, pct, wait_file  # noqa: E402  (after the path)
from bench.tui import _drain as drain_pty  # noqa: E402
from bench.tui import _latencies as latencies  # noqa: E402

COLUMNS, ROWS = 140, 40
WATCHED = "w00"
ECHO = "echo"


# --- the core + TUI child ------------------------------------------------------------

async def child_core(args: argparse.Namespace, out: Path) -> None:
    from hivetui.bridge.server import Bridge
    from hivetui.core.hive import Hive
    from hivetui.core.operator import Operator, OperatorSession
    from hivetui.tui.app import create_app
    from hivetui.tui.commands import OpenAgent
    from hivetui.tui.messages import HiveCommand
    from hivetui.tui.screens.agent_detail import AgentDetailScreen
    from hivetui.tui.widgets.agent.transcript_pane import TranscriptPane

    async with Hive(Path(args.state)) as hive:
        bridge = Bridge(hive)
        hive.add_service("bridge", bridge.run)
        await bridge.ready()
        names = [f"w{i:02d}" for i in range(args.agents)] + [ECHO]
        for name in names:
            await hive.registry.create(name, role="worker", runtime="scripted:echo",
                                       model="m")
            await hive.registry.update(name, state="running")
        # the watched agent's first turn, so the cursor has lines to move over
        await hive.transcripts.ingest(WATCHED, "bench:0", [
            {"kind": "prompt", "text": "[message 1 from boss (manager) at x]\nstart"},
            *({"kind": "text", "text": f"line {i}"} for i in range(60))])
        tokens = {n: (hive.paths.agent_run(n) / "token").read_text().strip() for n in names}
        (out / "bridge.json").write_text(json.dumps({"url": bridge.harness_url,
                                                     "tokens": tokens}))
        app = create_app(OperatorSession(hive, Operator("local:bench")), bell=False)
        marks = Marks()

        async def control() -> None:
            while not app.is_running:
                await asyncio.sleep(0.05)
            app.post_message(HiveCommand(OpenAgent(WATCHED, "transcript")))
            while not (isinstance(app.screen, AgentDetailScreen)
                       and app.screen.query(TranscriptPane)
                       and app.screen.query_one(TranscriptPane).events):
                await asyncio.sleep(0.05)
            pane = app.screen.query_one(TranscriptPane)
            pane.view.highlighted = 20  # off the newest line: new lines do not move it
            await asyncio.sleep(1.0)
            hook(app, pane.view, marks, "highlighted")
            (out / "ready").touch()
            await wait_file(out / "streaming")
            t0, n0 = time.monotonic(), hive.transcripts.ingested
            await wait_file(out / "stream-stop")
            t1, n1 = time.monotonic(), hive.transcripts.ingested
            await wait_file(out / "keys-done")
            (out / "result.json").write_text(json.dumps({
                "frames": marks.frames, "events_per_s": (n1 - n0) / (t1 - t0),
                "following": pane.following, "shown": len(pane.events)}))
            app.exit()

        task = asyncio.create_task(control())
        await app.run_async()
        await task


# --- the streamers --------------------------------------------------------------------

def _event(i: int) -> dict[str, Any]:
    pick = i % 4
    if pick == 0:
        return {"kind": "tool_call", "ts": time.time(), "id": f"t{i}", "name": "Bash",
                "input": {"command": f"pytest -q tests/unit -k case_{i}"}}
    if pick == 1:
        from hivetui.core.transcript_format import result_event

        return result_event(f"t{i - 1}", f"{i} passed\n" + "." * 6000, False, time.time())
    return {"kind": "text", "ts": time.time(), "text": f"step {i}: looking at the results"}


async def stream_agent(client: Any, rate: float, stop: asyncio.Event) -> Any:
    from hivetui.harness.transcript import TranscriptStream

    stream = TranscriptStream(client)
    sender = asyncio.create_task(stream.run())
    start, i, turn = time.monotonic(), 0, 1
    emit = stream.emitter(turn)
    while not stop.is_set():
        due = int(rate * (time.monotonic() - start))
        while i < due:
            if i % 100 == 0:
                if i:
                    emit({"kind": "end", "ts": time.time(), "outcome": "ok"})
                turn += 1
                emit = stream.emitter(turn)
                emit({"kind": "prompt", "ts": time.time(), "text": f"turn {turn}"})
            emit(_event(i))
            i += 1
        await asyncio.sleep(0.02)
    sender.cancel()
    return stream


async def time_turns(client: Any, state: Path, stop: asyncio.Event) -> dict[str, list[float]]:
    """Scripted echo turns, transcript on and off alternately, until ``stop``."""
    from hivetui.core.settings import AgentSettings
    from hivetui.harness.client import InboxMessage
    from hivetui.harness.loop import LoopConfig, TurnLoop
    from hivetui.harness.runtime import AgentIdentity
    from hivetui.harness.scripted import make_scripted
    from hivetui.harness.transcript import no_emit

    agent = AgentIdentity(ECHO, "worker", "scripted:echo", AgentSettings())
    runtime = make_scripted("scripted:echo", client, agent, state)
    loop = TurnLoop(client, runtime, agent, state, LoopConfig())
    sender = asyncio.create_task(loop.transcript.run())
    real_emitter = loop.transcript.emitter
    times: dict[str, list[float]] = {"on": [], "off": []}
    n = 0
    while not stop.is_set():
        mode = "on" if n % 2 == 0 else "off"
        loop.transcript.emitter = real_emitter if mode == "on" else (  # type: ignore[method-assign]
            lambda turn_no: no_emit)
        message = InboxMessage(id=n + 1, sender="operator", recipient=ECHO, kind="operator",
                               body=f"ping {n}", ts=time.time())
        started = time.perf_counter()
        await loop.turn([message])
        times[mode].append(time.perf_counter() - started)
        n += 1
        await asyncio.sleep(0.05)
    sender.cancel()
    return times


async def connected(out: Path, names: list[str]) -> list[Any]:
    from hivetui.harness.client import HiveClient

    await wait_file(out / "ready")
    info = json.loads((out / "bridge.json").read_text())
    clients = [HiveClient(info["url"], info["tokens"][name]) for name in names]
    for client in clients:
        await client.connect()
    return clients


async def streamers(args: argparse.Namespace, out: Path) -> None:
    """Agents ``part``, ``part + parts``, … of the 20: one process holds a few, as a few
    harnesses would share a core's CPU."""
    names = [f"w{i:02d}" for i in range(args.part, args.agents, args.parts)]
    clients = await connected(out, names)
    await wait_file(out / "stream-go")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(stream_agent(c, args.rate, stop)) for c in clients]
    (out / f"streaming-{args.part}").touch()
    await wait_file(out / "stream-stop")
    stop.set()
    streams = await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    (out / f"streamers-{args.part}.json").write_text(json.dumps({
        "sent": sum(s.sent for s in streams), "dropped": sum(s.dropped_total for s in streams)}))


async def turns(args: argparse.Namespace, out: Path) -> None:
    """The echo agent's harness: its scripted turns timed while the others stream."""
    [echo] = await connected(out, [ECHO])
    await wait_file(out / "streaming")
    stop = asyncio.Event()
    state = Path(args.state).parent / "echo-state"
    state.mkdir(exist_ok=True)
    timing = asyncio.create_task(time_turns(echo, state, stop))
    await wait_file(out / "stream-stop")
    stop.set()
    times = await timing
    await echo.aclose()
    (out / "turns.json").write_text(json.dumps(times))


# --- this process: keys in, output drained ----------------------------------------------

KEY_GAP_S = 0.15  # a key slower than this is not matched (keys_measured says how many were)


def send_keys(proc: Any, count: int) -> list[float]:
    sent: list[float] = []
    for i in range(count):
        key = b"\x1b[B" if (i // 5) % 2 == 0 else b"\x1b[A"  # down / up, over lines 20-25
        sent.append(time.monotonic())
        proc.write(key)
        time.sleep(KEY_GAP_S)
    time.sleep(0.3)
    return sent


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import subprocess

    from ptyprocess import PtyProcess

    out = work / "out"
    out.mkdir()
    common = ["--out", str(out), "--state", str(work / "state"), "--agents", str(args.agents),
              "--rate", str(args.rate)]
    me = str(Path(__file__).resolve())
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(ROWS))
    proc = PtyProcess.spawn([sys.executable, me, "--child", "core", *common],
                            dimensions=(ROWS, COLUMNS), env=env, cwd=str(ROOT))
    output = bytearray()
    threading.Thread(target=drain_pty, args=(proc, output), daemon=True).start()
    helpers = [subprocess.Popen([sys.executable, me, "--child", "streamers", "--part",
                                 str(part), "--parts", str(args.parts), *common], cwd=str(ROOT))
               for part in range(args.parts)]
    helpers.append(subprocess.Popen([sys.executable, me, "--child", "turns", *common],
                                    cwd=str(ROOT)))
    deadline = time.monotonic() + args.timeout
    try:
        while not (out / "ready").exists():
            if not proc.isalive() or time.monotonic() > deadline:
                raise SystemExit("core child did not get ready:\n"
                                 + output[-2000:].decode("utf-8", "replace"))
            time.sleep(0.05)
        idle = send_keys(proc, args.keys)
        (out / "stream-go").touch()
        while not all((out / f"streaming-{part}").exists() for part in range(args.parts)):
            time.sleep(0.05)
        (out / "streaming").touch()
        time.sleep(args.warm)
        loaded = send_keys(proc, args.keys)
        time.sleep(args.turn_window)
        (out / "stream-stop").touch()
        for helper in helpers:
            helper.wait(timeout=60)
        (out / "keys-done").touch()
        while not (out / "result.json").exists():
            if not proc.isalive() or time.monotonic() > deadline:
                raise SystemExit("core child gave no result:\n"
                                 + output[-2000:].decode("utf-8", "replace"))
            time.sleep(0.05)
    finally:
        if proc.isalive():
            proc.terminate(force=True)
        for helper in helpers:
            if helper.poll() is None:
                helper.kill()
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    parts = [json.loads((out / f"streamers-{p}.json").read_text()) for p in range(args.parts)]
    result["sent"] = sum(p["sent"] for p in parts)
    result["dropped"] = sum(p["dropped"] for p in parts)
    result["turns"] = json.loads((out / "turns.json").read_text())
    result["idle_ms"] = latencies(idle, result["frames"])
    result["loaded_ms"] = latencies(loaded, result["frames"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0, help="events/s per agent")
    parser.add_argument("--keys", type=int, default=0)
    parser.add_argument("--warm", type=float, default=2.0, help="stream before keys (s)")
    parser.add_argument("--turn-window", type=float, default=0.0,
                        help="more seconds of stream for the turn timing")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--parts", type=int, default=4, help="streamer processes")
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--child", choices=("core", "streamers", "turns"))
    parser.add_argument("--out")
    parser.add_argument("--state")
    args = parser.parse_args()
    args.keys = args.keys or (50 if args.quick else 200)
    args.turn_window = args.turn_window or (2.0 if args.quick else 10.0)
    if args.child == "core":
        asyncio.run(child_core(args, Path(args.out)))
        return
    if args.child in ("streamers", "turns"):
        asyncio.run((streamers if args.child == "streamers" else turns)(args, Path(args.out)))
        return
    with tempfile.TemporaryDirectory(prefix="hivetui-bench-transcript-") as tmp:
        r = run(args, Path(tmp))
    on, off = r["turns"]["on"], r["turns"]["off"]
    ratio = statistics.median(on) / statistics.median(off) if on and off else float("nan")
    print(f"keys: idle p95 {pct(r['idle_ms'], .95):.1f} ms ({len(r['idle_ms'])}/{args.keys}), "
          f"streaming p95 {pct(r['loaded_ms'], .95):.1f} ms ({len(r['loaded_ms'])}/"
          f"{args.keys}); ingested {r['events_per_s']:.0f} events/s, sent {r['sent']}, "
          f"dropped in the harness {r['dropped']}; turns on {len(on)} (median "
          f"{statistics.median(on) * 1000 if on else 0:.1f} ms) / off {len(off)} (median "
          f"{statistics.median(off) * 1000 if off else 0:.1f} ms); the tab still following: "
          f"{r['following']}, {r['shown']} lines", flush=True)
    print(json.dumps({
        "agents": args.agents, "rate_per_agent": args.rate,
        "events_per_s": round(r["events_per_s"], 1),
        "key_p95_ms": round(pct(r["loaded_ms"], 0.95), 2),
        "idle_key_p95_ms": round(pct(r["idle_ms"], 0.95), 2),
        "turn_slowdown_ratio": round(ratio, 3),
        "keys_measured": len(r["loaded_ms"]), "idle_keys_measured": len(r["idle_ms"]),
        "harness_dropped": r["dropped"], "turns_on": len(on), "turns_off": len(off),
    }))


if __name__ == "__main__":
    main()
