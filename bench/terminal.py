"""Benchmark: the terminal widget under a flood, beside the raw emulator fed the same bytes.

1. Generate a mixed ANSI file (SGR 16/256/24-bit colours, text, cursor moves, erases).
2. Baselines: the same bytes as the PTY delivers them (LF -> CRLF) fed to the raw
   emulator (our pyte subclass, no widget) and to plain ``pyte.Screen`` + ``ByteStream``.
3. ``cat`` the file through the widget: real PTY, headless Textual app, the widget
   mounted alone at COLUMNSxROWS. Throughput counts the bytes the widget fed.
4. While the flood runs, press "~" every ~50 ms (a Key event posted to the app, as the
   driver does) and time key sent -> Textual paints the first frame after the emulator
   processed the echoed "~" (the tty echoes it into the same output stream as cat).

Last line: one JSON object with ``mb_per_s``, ``raw_emulator_mb_per_s``, ``ratio``,
``key_p95_ms_during_flood`` (MB = 10**6 bytes). ``--quick``: 3 MB, well under 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyte
from textual import events
from textual.strip import Strip

from hivetui.tui.widgets.terminal.emulator import Emulator
from hivetui.tui.widgets.terminal.testing import TerminalTestApp, plain_env
from hivetui.tui.widgets.terminal.widget import Terminal

MARKER = b"~"
WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron sigma omega "
    "build test error warning ok done compiling linking src/main.rs:42:7 0x7f3a 12345 "
    "[INFO] (pid=81) cargo npm pytest PASSED FAILED"
).split()


def generate(size: int, seed: int = 7) -> bytes:
    """A mixed ANSI stream of about ``size`` bytes; never contains the marker."""
    rnd = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        r = rnd.random()
        parts = []
        if r < 0.25:
            parts.append(f"\x1b[{rnd.choice([1, 4, 7, 31, 32, 33, 34, 35, 36, 91, 92, 96])}m")
        elif r < 0.40:
            parts.append(f"\x1b[38;5;{rnd.randrange(256)}m")
        elif r < 0.50:
            rgb = ";".join(str(rnd.randrange(256)) for _ in range(3))
            parts.append(f"\x1b[{rnd.choice([38, 48])};2;{rgb}m")
        elif r < 0.55:
            parts.append(f"\x1b[{rnd.randrange(1, 40)};{rnd.randrange(1, 110)}H")
        elif r < 0.58:
            parts.append("\x1b[K")
        elif r < 0.60:
            parts.append(f"\x1b[{rnd.randrange(1, 5)}A")
        parts.append(" ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(3, 14))))
        parts.append("\x1b[0m\n" if rnd.random() < 0.7 else "\x1b[0m ")
        piece = "".join(parts)
        out.append(piece)
        total += len(piece)
    data = "".join(out).encode()
    assert MARKER not in data
    return data


def feed_rate(feed: object, data: bytes, chunk: int = 4096) -> float:
    started = time.perf_counter()
    for offset in range(0, len(data), chunk):
        feed(data[offset : offset + chunk])  # type: ignore[operator]
    return len(data) / (time.perf_counter() - started) / 1e6


class TimedTerminal(Terminal):
    """The widget, instrumented: when bytes were fed, when the marker's frame was painted."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.started_at = 0.0
        self.last_fed_at = 0.0
        self.fed = 0
        self.marker_fed_at: float | None = None
        self.marker_painted_at: float | None = None
        self.marker_seen = False
        self.waiting = False

    def start(self) -> None:
        self.started_at = time.perf_counter()
        super().start()

    def _on_output(self, data: bytes) -> None:
        super()._on_output(data)
        self.fed += len(data)
        self.last_fed_at = time.perf_counter()
        if self.waiting and self.marker_fed_at is None and MARKER in data:
            self.marker_fed_at = self.last_fed_at

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.marker_fed_at is not None and self.marker_painted_at is None:
            self.marker_painted_at = time.perf_counter()
        if self.marker_painted_at is not None and not self.marker_seen:
            self.marker_seen = "~" in strip.text
        return strip


async def run_widget(path: Path, expected: int, columns: int, rows: int) -> dict[str, object]:
    app = TerminalTestApp(["cat", str(path)], env=plain_env(), terminal_class=TimedTerminal)
    latencies: list[float] = []
    seen = 0
    async with app.run_test(size=(columns, rows)) as pilot:
        term = app.terminal
        assert isinstance(term, TimedTerminal)
        while term.fed == 0:
            await asyncio.sleep(0.001)
        while term.fed < expected * 0.9 and not app.exited:
            await asyncio.sleep(0.05)
            term.marker_fed_at = term.marker_painted_at = None
            term.marker_seen = False
            term.waiting = True
            sent = time.perf_counter()
            app.post_message(events.Key("tilde", "~"))
            deadline = sent + 2.0
            while term.marker_painted_at is None and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            term.waiting = False
            if app.exited and term.marker_painted_at is None:
                break  # the flood ended before the echo: not a sample
            painted = term.marker_painted_at or deadline
            latencies.append((painted - sent) * 1000)
            seen += term.marker_seen
        while not app.exited:
            await asyncio.sleep(0.01)
        await pilot.pause()
        pump = term.pump
        return {
            "fed": term.fed,
            "seconds": term.last_fed_at - term.started_at,
            "latencies": latencies,
            "marker_seen": seen,
            "frames": term.frames,
            "pauses": pump.pauses if pump else 0,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 MB instead of 20 MB")
    parser.add_argument("--size-mb", type=float, default=None)
    parser.add_argument("--columns", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    args = parser.parse_args()
    size = int((args.size_mb or (3 if args.quick else 20)) * 1e6)

    with tempfile.TemporaryDirectory(prefix="hivetui-bench-terminal-") as tmp:
        path = Path(tmp) / "flood.ansi"
        data = generate(size)
        path.write_bytes(data)
        as_delivered = data.replace(b"\n", b"\r\n")  # the tty's ONLCR
        print(f"file: {len(data) / 1e6:.1f} MB, {len(as_delivered) / 1e6:.1f} MB as delivered")

        raw = Emulator(args.columns, args.rows)
        raw_rate = feed_rate(raw.feed, as_delivered)
        print(f"raw emulator (our pyte subclass): {raw_rate:.2f} MB/s")
        plain = pyte.Screen(args.columns, args.rows)
        pyte_rate = feed_rate(pyte.ByteStream(plain).feed, as_delivered)
        print(f"plain pyte Screen + ByteStream:   {pyte_rate:.2f} MB/s")

        result = asyncio.run(run_widget(path, len(as_delivered), args.columns, args.rows))
        # The machine is shared: measure the baseline again after the widget and average.
        raw_after = feed_rate(Emulator(args.columns, args.rows).feed, as_delivered)
        print(f"raw emulator again, after the widget: {raw_after:.2f} MB/s")
        raw_rate = (raw_rate + raw_after) / 2

    fed = int(result["fed"])  # type: ignore[call-overload]
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    latencies = sorted(result["latencies"])  # type: ignore[type-var]
    widget_rate = fed / seconds / 1e6
    p95 = latencies[max(0, int(len(latencies) * 0.95 + 0.5) - 1)] if latencies else None
    print(f"widget: {fed / 1e6:.1f} MB in {seconds:.2f}s = {widget_rate:.2f} MB/s, "
          f"{result['frames']} frames, reader paused {result['pauses']} times")
    if latencies:
        print(f"keys during flood: {len(latencies)} samples, p50 "
              f"{statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms; "
              f"echo visible in the painted frame {result['marker_seen']}/{len(latencies)}")
    summary = {
        "mb_per_s": round(widget_rate, 3),
        "raw_emulator_mb_per_s": round(raw_rate, 3),
        "ratio": round(widget_rate / raw_rate, 3),
        "key_p95_ms_during_flood": None if p95 is None else round(p95, 1),
        "key_p50_ms_during_flood": round(statistics.median(latencies), 1) if latencies else None,
        "key_samples": len(latencies),
        "pyte_screen_mb_per_s": round(pyte_rate, 3),
        "file_mb": round(len(data) / 1e6, 2),
        "columns": args.columns,
        "rows": args.rows,
        "frames": result["frames"],
        "reader_pauses": result["pauses"],
        "quick": args.quick,
    }
    sys.stdout.flush()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
