"""Benchmark: the operator TUI with 500 agents and 50 events/s through the live stream.

The app runs for real in a child process on its own PTY (Textual's Linux driver, real
ANSI output, read and discarded by this process), over an embedded hive (real sqlite)
with N agents. A generator in the child's loop makes real core changes (messages sent
on the bus and committed, status updates, telemetry samples), paced so that the app's
live stream carries R events/s; the hive's own sampler (one telemetry event per agent
every 10 s) counts toward R and comes in bursts, so the rate seen can exceed R.

* key latency: this process writes ``j``/``k`` to the PTY (the fleet cursor moves) and
  notes the time; the child notes when the app wrote the first frame after the cursor
  moved. Both use CLOCK_MONOTONIC, so ``key_ms = frame_written - key_sent``.
* idle CPU: the generator stops; after a short settle, the child's process CPU time over
  a few wall-clock seconds (the hive's own sampler still runs, as it does in real life).

Baseline beside it, same method: a bare Textual app with a 500-row ``DataTable``, no
hive and no events (``baseline_*`` fields). Last line: one JSON object with
``agents``, ``events_per_s``, ``key_p50_ms``, ``key_p95_ms``, ``idle_cpu_pct``.
``--quick`` finishes within 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLUMNS, ROWS = 160, 48
MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")
STATUSES = ("idle", "in_turn", "waiting_operator", "idle", "in_turn")


# --- the child: the app on a PTY ---------------------------------------------------

class Marks:
    """Times the child notes: when the cursor moved, when the next frame was written."""

    def __init__(self) -> None:
        self.moved_at: float | None = None
        self.frames: list[float] = []
        self.writes = 0

    def moved(self) -> None:
        if self.moved_at is None:
            self.moved_at = time.monotonic()

    def wrote(self) -> None:
        self.writes += 1
        if self.moved_at is not None:
            self.frames.append(time.monotonic())
            self.moved_at = None


def hook(app: Any, table: Any, marks: Marks, attribute: str = "cursor_row") -> None:
    driver = app._driver
    original = driver.write

    def write(data: str) -> None:
        original(data)
        marks.wrote()

    driver.write = write
    app.watch(table, attribute, lambda *_: marks.moved(), init=False)


async def wait_file(path: Path) -> None:
    while not await asyncio.to_thread(path.exists):
        await asyncio.sleep(0.05)


async def generate(hive: Any, names: list[str], rate: float, stop: asyncio.Event,
                   counter: list[int], seen: Any) -> None:
    """Real core changes, paced so the app's stream carries ``rate`` events per second.

    One change can publish more than one event (a send: the message; a receive: the
    received count), so the pace follows the events the app has seen, not the changes.
    """
    from hivetui.core.errors import HiveError

    rng = random.Random(7)
    start, first = time.monotonic(), seen()
    while not stop.is_set():
        due = rate * (time.monotonic() - start) - (seen() - first)
        if due < 1:
            await asyncio.sleep(min(0.02, (1 - due) / rate))
            continue
        a, b = rng.sample(names, 2)
        pick = rng.random()
        try:
            if pick < 0.5:
                await hive.bus.send(a, b, f"work item {counter[0]}")
                if hive.bus.depth(b) > 20:
                    await hive.bus.recv(b, 0.0, 100)
            elif pick < 0.8:
                await hive.registry.update(a, status=rng.choice(STATUSES))
            else:
                hive.telemetry.record(a, {"turns_per_min": rng.uniform(0, 5)})
        except HiveError:
            pass
        counter[0] += 1
        await asyncio.sleep(0)


async def child_hive(args: argparse.Namespace, out: Path) -> None:
    from hivetui.core.hive import Hive
    from hivetui.core.operator import Operator, OperatorSession
    from hivetui.tui.app import create_app
    from hivetui.tui.screens.fleet import FleetScreen
    from hivetui.tui.widgets.fleet.table import FleetTable

    state = Path(args.state)
    async with Hive(state) as hive:
        rng = random.Random(1)
        names = []
        for i in range(args.agents):
            name = "manager" if i == 0 else f"w{i:04d}"
            names.append(name)
            await hive.registry.create(name, role="manager" if i == 0 else "worker",
                                       runtime="scripted:echo", model=rng.choice(MODELS))
            await hive.registry.update(name, state="running", status=rng.choice(STATUSES),
                                       last_turn_at=time.time() - rng.uniform(0, 3600))
        app = create_app(OperatorSession(hive, Operator("local:bench")), bell=False)
        marks = Marks()
        stop = asyncio.Event()
        counter = [0]

        async def control() -> None:
            while not (isinstance(app.screen, FleetScreen)
                       and app.screen.query_one(FleetTable).row_count == args.agents):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            hook(app, app.screen.query_one(FleetTable), marks)
            started = time.monotonic()
            events_before = app.pump.events_seen
            gen = asyncio.create_task(generate(hive, names, args.rate, stop, counter,
                                               lambda: app.pump.events_seen))
            await asyncio.sleep(0.5)
            (out / "ready").touch()
            await wait_file(out / "keys-done")
            stop.set()
            await gen
            elapsed = time.monotonic() - started
            events = app.pump.events_seen - events_before
            await asyncio.sleep(args.settle)
            idle = await measure_idle(args.idle)
            write_result(out, marks, idle, {"events_per_s": events / elapsed,
                                            "changes_per_s": counter[0] / elapsed,
                                            "refreshes": app.pump.refreshes})
            app.exit()

        task = asyncio.create_task(control())
        await app.run_async()
        await task


async def child_baseline(args: argparse.Namespace, out: Path) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer

    class Baseline(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("NAME", "STATE", "ROLE", "MODEL", "INBOX", "LAST", "DETAIL")
            for i in range(args.agents):
                table.add_row(f"w{i:04d}", "● idle", "worker", "sonnet-4-5", "0", "3m",
                              "detail text")
            table.focus()

    app = Baseline()
    marks = Marks()

    async def control() -> None:
        while not app.is_running or app.query(DataTable).first().row_count < args.agents:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        table = app.query_one(DataTable)
        hook(app, table, marks, "cursor_coordinate")
        (out / "ready").touch()
        await wait_file(out / "keys-done")
        await asyncio.sleep(args.settle)
        idle = await measure_idle(args.idle)
        write_result(out, marks, idle, {})
        app.exit()

    task = asyncio.create_task(control())
    await app.run_async()
    await task


async def measure_idle(seconds: float) -> float:
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return 100.0 * (time.process_time() - cpu0) / (time.monotonic() - wall0)


def write_result(out: Path, marks: Marks, idle: float, extra: dict[str, Any]) -> None:
    (out / "result.json").write_text(json.dumps({
        "frames": marks.frames, "writes": marks.writes, "idle_cpu_pct": idle, **extra}))


# --- the parent: keys in, output drained ----------------------------------------------

def run_child(mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from ptyprocess import PtyProcess

    out = work / mode
    out.mkdir()
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", mode,
            "--out", str(out), "--state", str(work / "state"), "--agents", str(args.agents),
            "--rate", str(args.rate), "--idle", str(args.idle), "--settle", str(args.settle)]
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(ROWS))
    proc = PtyProcess.spawn(argv, dimensions=(ROWS, COLUMNS), env=env, cwd=str(ROOT))
    output = bytearray()
    drained = threading.Thread(target=_drain, args=(proc, output), daemon=True)
    drained.start()
    sent: list[float] = []
    try:
        deadline = time.monotonic() + args.timeout
        while not (out / "ready").exists():
            if not proc.isalive() or time.monotonic() > deadline:
                raise SystemExit(f"{mode} child did not get ready:\n{_tail(output)}")
            time.sleep(0.05)
        rng = random.Random(3)
        for i in range(args.keys):
            key = b"\x1b[B" if (i // 10) % 2 == 0 else b"\x1b[A"  # down / up
            sent.append(time.monotonic())
            proc.write(key)
            time.sleep(rng.uniform(0.06, 0.14))
        time.sleep(0.3)
        (out / "keys-done").touch()
        while not (out / "result.json").exists():
            if not proc.isalive() or time.monotonic() > deadline:
                raise SystemExit(f"{mode} child gave no result:\n{_tail(output)}")
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        if proc.isalive():
            proc.terminate(force=True)
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    result["key_ms"] = _latencies(sent, result["frames"])
    result["output_bytes"] = len(output)
    return result


def _drain(proc: Any, output: bytearray) -> None:
    while True:
        try:
            output.extend(proc.read(65536))
        except EOFError:
            return
        except OSError:
            return


def _tail(output: bytearray) -> str:
    return output[-2000:].decode("utf-8", "replace")


def _latencies(sent: list[float], frames: list[float]) -> list[float]:
    """Match each key to the first cursor-moved frame written after it was sent."""
    out: list[float] = []
    j = 0
    for i, t in enumerate(sent):
        while j < len(frames) and frames[j] < t:
            j += 1
        if j == len(frames):
            break
        limit = sent[i + 1] if i + 1 < len(sent) else float("inf")
        if frames[j] < limit:
            out.append((frames[j] - t) * 1000.0)
            j += 1
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer keys, shorter idle")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--keys", type=int, default=0)
    parser.add_argument("--idle", type=float, default=0.0, help="idle window (s)")
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--child", choices=("hive", "baseline"))
    parser.add_argument("--out")
    parser.add_argument("--state")
    args = parser.parse_args()
    args.keys = args.keys or (60 if args.quick else 200)
    args.idle = args.idle or (3.0 if args.quick else 6.0)
    if args.child:
        runner = child_hive if args.child == "hive" else child_baseline
        asyncio.run(runner(args, Path(args.out)))
        return
    with tempfile.TemporaryDirectory(prefix="hivetui-bench-tui-") as tmp:
        work = Path(tmp)
        baseline = run_child("baseline", args, work)
        hive = run_child("hive", args, work)
    keys, base_keys = hive["key_ms"], baseline["key_ms"]
    print(f"hive app: {len(keys)}/{args.keys} keys matched, p50 {pct(keys, .5):.1f} ms, "
          f"p95 {pct(keys, .95):.1f} ms, max {max(keys, default=0):.1f} ms; "
          f"{hive['events_per_s']:.1f} events/s seen ({hive['refreshes']} refreshes); "
          f"idle CPU {hive['idle_cpu_pct']:.2f}%", flush=True)
    print(f"baseline (bare DataTable, no events): p50 {pct(base_keys, .5):.1f} ms, "
          f"p95 {pct(base_keys, .95):.1f} ms; idle CPU {baseline['idle_cpu_pct']:.2f}%",
          flush=True)
    print(json.dumps({
        "agents": args.agents,
        "events_per_s": round(hive["events_per_s"], 1),
        "key_p50_ms": round(pct(keys, 0.5), 2),
        "key_p95_ms": round(pct(keys, 0.95), 2),
        "idle_cpu_pct": round(hive["idle_cpu_pct"], 2),
        "keys_measured": len(keys),
        "baseline_key_p50_ms": round(pct(base_keys, 0.5), 2),
        "baseline_key_p95_ms": round(pct(base_keys, 0.95), 2),
        "baseline_idle_cpu_pct": round(baseline["idle_cpu_pct"], 2),
        "key_mean_ms": round(statistics.fmean(keys), 2) if keys else None,
    }))


if __name__ == "__main__":
    main()
