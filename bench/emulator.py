"""Benchmark: the terminal emulator alone (no app, no PTY), against plain pyte and libvterm.

Two workloads, fed in 4096-byte reads as the widget's pump feeds them, on an 80x24
screen:

* ``yes``: ``yes | head -c N`` as a PTY delivers it (``y\\r\\n`` lines);
* ``log``: a coloured log (SGR colours and dim timestamps, ~150-byte lines that wrap).

Our emulator keeps 5000 lines of scrollback and the screen is read back (every row,
as a frame would) every 64 KiB and at the end, so work it defers is counted. Plain
pyte (``pyte.Screen`` + ``ByteStream``, no scrollback) is the baseline in the same
run; libvterm (Debian ``libvterm0``, through ctypes, its C screen layer, no scrollback
kept, screen not read back) is measured too when the library is present: its figure
is an upper bound for a C core. Last line: one JSON object with
``ours_yes_mb_per_s``, ``ours_log_mb_per_s``, ``pyte_yes_mb_per_s``,
``pyte_log_mb_per_s``, ``libvterm_yes_mb_per_s``, ``libvterm_log_mb_per_s`` (null
without the library) and ``ratio_*`` (ours / pyte). ``--quick`` uses small inputs.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyte  # noqa: E402

from hivetui.terminal.emulator import Emulator  # noqa: E402

COLUMNS, ROWS = 80, 24
READ = 4096
FRAME_EVERY = 65536


def yes_output(size: int) -> bytes:
    return b"y\r\n" * (size // 3)


def coloured_log(size: int) -> bytes:
    rnd = random.Random(1)
    levels = ["\x1b[32mINFO\x1b[0m"] * 5 + ["\x1b[33mWARN\x1b[0m"] * 2 + ["\x1b[1;31mERROR\x1b[0m"]
    out, total = [], 0
    while total < size:
        line = (
            f"\x1b[2m2026-12-07 12:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}."
            f"{rnd.randrange(1000):03d}\x1b[0m {rnd.choice(levels)} "
            f"\x1b[36mworker-{rnd.randrange(16)}\x1b[0m request id={rnd.getrandbits(32):08x} "
            f"took {rnd.random() * 100:.2f}ms path=/api/v1/items/{rnd.randrange(10**6)}\r\n"
        ).encode()
        out.append(line)
        total += len(line)
    return b"".join(out)


def _mb_per_s(feed: Callable[[bytes], None], frame: Callable[[], object], data: bytes) -> float:
    started = time.perf_counter()
    for offset in range(0, len(data), READ):
        feed(data[offset : offset + READ])
        if offset % FRAME_EVERY == 0:
            frame()
    frame()
    return len(data) / (time.perf_counter() - started) / 1e6


def read_screen(screen: pyte.Screen) -> list[list[object]]:
    """Every cell of every row, as a frame reads them."""
    columns = range(COLUMNS)
    return [list(map(screen.buffer[y].__getitem__, columns)) for y in range(ROWS)]


def ours(data: bytes) -> float:
    emulator = Emulator(COLUMNS, ROWS, scrollback=5000)
    return _mb_per_s(emulator.feed, lambda: read_screen(emulator.screen), data)


def plain_pyte(data: bytes) -> float:
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    return _mb_per_s(stream.feed, lambda: read_screen(screen), data)


def libvterm(data: bytes) -> float | None:
    name = ctypes.util.find_library("vterm") or "libvterm.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.vterm_new.restype = ctypes.c_void_p
    lib.vterm_new.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.vterm_obtain_screen.restype = ctypes.c_void_p
    lib.vterm_obtain_screen.argtypes = [ctypes.c_void_p]
    lib.vterm_screen_reset.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.vterm_set_utf8.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.vterm_input_write.restype = ctypes.c_size_t
    lib.vterm_input_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.vterm_free.argtypes = [ctypes.c_void_p]
    vt = lib.vterm_new(ROWS, COLUMNS)
    lib.vterm_set_utf8(vt, 1)
    lib.vterm_screen_reset(lib.vterm_obtain_screen(vt), 1)
    try:
        return _mb_per_s(
            lambda chunk: lib.vterm_input_write(vt, chunk, len(chunk)), lambda: None, data
        )
    finally:
        lib.vterm_free(vt)


def best(run: Callable[[bytes], float | None], data: bytes, repeats: int) -> float | None:
    results = [run(data) for _ in range(repeats)]
    values = [value for value in results if value is not None]
    return round(max(values), 2) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, a few seconds")
    args = parser.parse_args()
    size = 1_000_000 if args.quick else 20_000_000
    repeats = 2 if args.quick else 3
    workloads = {"yes": yes_output(size), "log": coloured_log(size)}
    result: dict[str, float | None] = {}
    for name, data in workloads.items():
        result[f"ours_{name}_mb_per_s"] = best(ours, data, repeats)
        result[f"pyte_{name}_mb_per_s"] = best(plain_pyte, data[: size // 10], repeats)
        result[f"libvterm_{name}_mb_per_s"] = best(libvterm, data, repeats)
    for name in workloads:
        ours_speed, pyte_speed = result[f"ours_{name}_mb_per_s"], result[f"pyte_{name}_mb_per_s"]
        result[f"ratio_{name}"] = (
            round(ours_speed / pyte_speed, 1) if ours_speed and pyte_speed else None
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
