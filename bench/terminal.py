"""Benchmark: the embedded terminal as an operator sees it, beside tmux in the same run.

Both sides run inside a real terminal that this process plays: a PTY whose output it
reads (and so drains, as a terminal does) and whose input it writes as bytes.

* embedded: ``bench/_terminal_app.py`` — the real app over an embedded hive (real sqlite)
  — with alice's shell (a local bash: the one fake, no container runs here) open in her
  agent screen's terminal tab.
* baseline: a tmux 3.3a client attached to a new session running the same bash.

Workloads, the same for both: ``yes | head -c N`` and ``cat`` of a coloured log
(SGR 16/256/24-bit colours, sizes below; MB = 10**6 bytes). Each is timed from its
command's Enter to its done mark (``DONE-4201``…, new each time, printed after it) on the
outer terminal.

Latency, measured during a flood (``bench/_flood_echo.py``: ``y`` lines scrolled as fast
as the terminal takes them, the keys read so far drawn on the bottom row, where they
stay; a tty echo inside a flood scrolls away before any terminal draws it) and idle:

* ``echo_p95_ms_flood``: a token typed into the flooding program (``%`` and two digits,
  one write) until its echo (the whole token) reaches the outer terminal (the read that
  completed it); tmux beside it as ``tmux_echo_p95_ms_flood``. An echo not seen within
  5 s counts as 5 s and in ``echo_lost``.
* ``ui_key_p95_ms_idle`` / ``_flood``: the app's own keys, ctrl+] (leave the terminal) and
  Enter (back in), each until its hint line ("outside the shell" / "keys go to the
  shell") reaches the outer terminal.

One JSON line: ``yes_mb_per_s``, ``log_mb_per_s``, ``tmux_yes_mb_per_s``,
``tmux_log_mb_per_s``, ``ratio_yes``, ``ratio_log``, ``ui_key_p95_ms_idle``,
``ui_key_p95_ms_flood``, ``echo_p95_ms_flood`` (and the baselines and sizes). Goals:
ratios >= 0.5, ui flood <= idle + 20, echo <= 50. ``--quick``: 0.5 MB of ``yes``, 1 MB of
log and 12 samples (the same for both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import ptyprocess

ROOT = Path(__file__).resolve().parent.parent
COLUMNS, ROWS = 120, 40
LEAVE, ENTER = b"\x1d", b"\r"
OUTSIDE, INSIDE = b"outside the shell", b"keys go to the shell"
ECHO_LOST_S = 5.0
TOKEN_CHAR = "%"  # in neither workload's output nor the app's escape sequences
WORDS = ["alpha", "beta", "gamma", "delta", "build", "test", "error", "warning", "ok", "done",
         "compiling", "linking", "src/main.rs:42:7", "0x7f3a", "12345", "[INFO]", "(pid=81)",
         "cargo", "pytest", "PASSED", "FAILED"]


def coloured_log(size: int, seed: int = 7) -> bytes:
    """About ``size`` bytes of log lines in SGR 16/256/24-bit colours; no ``%`` in it."""
    rnd = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        kind = rnd.random()
        if kind < 0.5:
            colour = f"\x1b[{rnd.choice([1, 31, 32, 33, 34, 35, 36, 90, 91, 92, 96])}m"
        elif kind < 0.8:
            colour = f"\x1b[38;5;{rnd.randrange(256)}m"
        else:
            colour = f"\x1b[38;2;{rnd.randrange(256)};{rnd.randrange(256)};{rnd.randrange(256)}m"
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(3, 14)))
        line = f"{len(out):08d} {colour}{words}\x1b[0m\n"
        out.append(line)
        total += len(line)
    data = "".join(out).encode()
    assert TOKEN_CHAR.encode() not in data
    return data


class OuterTerminal:
    """A program on a PTY this process reads (all of it, as a terminal would) and types into.

    ``wait_for(text, since)`` is the monotonic time at which the first read that completed
    ``text`` after output offset ``since`` came in.
    """

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.proc = ptyprocess.PtyProcess.spawn(argv, env=env, cwd=None if cwd is None
                                                else str(cwd), dimensions=(ROWS, COLUMNS))
        self._data = bytearray()
        self._base = 0  # output offset of _data[0]
        self._times: list[tuple[int, float]] = []  # (end offset, read time) of each read
        self._cond = threading.Condition()
        self._eof = False
        self.lost = 0  # echoes never seen (see echo_samples)
        self._marks = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = self.proc.read(1 << 16)
            except EOFError:
                break
            now = time.monotonic()
            with self._cond:
                self._data += chunk
                self._times.append((self._base + len(self._data), now))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def offset(self) -> int:
        with self._cond:
            return self._base + len(self._data)

    def forget_before(self, offset: int) -> None:
        """Drop output before ``offset`` (memory: floods write a lot)."""
        with self._cond:
            cut = max(0, offset - self._base - 64)
            del self._data[:cut]
            self._base += cut
            self._times = [t for t in self._times if t[0] > self._base]

    def type(self, data: bytes) -> float:
        sent = time.monotonic()
        self.proc.write(data)
        return sent

    def wait_for(self, text: bytes, since: int, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        with self._cond:
            start = max(since, self._base)
            while True:
                found = self._data.find(text, start - self._base)
                if found >= 0:
                    end = self._base + found + len(text)
                    return next(t for offset, t in self._times if offset >= end)
                start = max(start, self._base + len(self._data) - len(text))
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    raise TimeoutError(f"{text!r} did not reach the outer terminal "
                                       f"(last output {bytes(self._data[-300:])!r})")
                self._cond.wait(remaining)

    def mark(self) -> tuple[str, bytes]:
        """A command that prints a mark never printed before in this run, and the mark
        (its echo is not the mark; a repaint of an older mark is not it either)."""
        self._marks += 1
        return f"echo DONE-$((4200+{self._marks}))", f"DONE-{4200 + self._marks}".encode()

    def run(self, command: str, until: bytes, timeout: float = 600.0) -> float:
        """Type ``command`` + Enter; seconds from the Enter to ``until`` on the screen."""
        self.proc.write(command.encode())
        time.sleep(0.3)  # let the line's own echo go by first
        since = self.offset
        sent = self.type(b"\r")
        return self.wait_for(until, since, timeout) - sent

    def close(self) -> None:
        self.proc.terminate(force=True)


def ready(term: OuterTerminal) -> None:
    """Wait until the shell answers a command on the outer terminal."""
    deadline = time.monotonic() + 60
    while True:
        try:
            term.run(*term.mark(), timeout=5)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
    term.forget_before(term.offset)


def throughput(term: OuterTerminal, workload: str, size: int) -> float:
    command, done = term.mark()
    seconds = term.run(f"{workload}; {command}", done)
    term.forget_before(term.offset)
    return size / seconds / 1e6


def echo_samples(term: OuterTerminal, count: int, gap: float) -> list[float]:
    """ms from typing a fresh token into the flooding program to its echo on the screen;
    an echo not seen within ECHO_LOST_S counts as that long (and is counted as lost)."""
    samples = []
    for n in range(count):
        token = f"{TOKEN_CHAR}{n % 100:02d}".encode()
        since = term.offset
        sent = term.type(token)
        try:
            samples.append((term.wait_for(token, since, ECHO_LOST_S) - sent) * 1000)
        except TimeoutError:
            samples.append(ECHO_LOST_S * 1000)
            term.lost += 1
        term.forget_before(term.offset)
        time.sleep(gap)
    return samples


def ui_key_samples(term: OuterTerminal, count: int, gap: float) -> list[float]:
    """ms for the app's own keys: ctrl+] then Enter, each until its hint is on the screen."""
    samples = []
    for _ in range(count):
        for key, shown in ((LEAVE, OUTSIDE), (ENTER, INSIDE)):
            since = term.offset
            sent = term.type(key)
            samples.append((term.wait_for(shown, since, 10.0) - sent) * 1000)
            term.forget_before(term.offset)
            time.sleep(gap)
    return samples


def start_flood(term: OuterTerminal) -> None:
    term.type(f"{sys.executable} {ROOT / 'bench' / '_flood_echo.py'}\r".encode())
    time.sleep(1.5)  # the flood is under way and the frames are at their busy rate


def stop_flood(term: OuterTerminal) -> None:
    term.type(b"\x03")
    time.sleep(0.5)
    term.run(*term.mark(), timeout=60)
    term.forget_before(term.offset)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1)


def shell_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("TMUX", "COLUMNS", "LINES", "PROMPT_COMMAND")}
    env.update(TERM="xterm-256color", HOME=str(home), PS1="$ ", LANG="C.UTF-8",
               XDG_CONFIG_HOME=str(home / "cfg"))
    return env


def embedded(work: Path, sizes: dict[str, int], log: Path, samples: int) -> dict[str, float]:
    env = shell_env(work)
    term = OuterTerminal([sys.executable, str(ROOT / "bench" / "_terminal_app.py"),
                          str(work / "state")], env, cwd=work)
    try:
        term.wait_for(b"alice", 0, 60)
        time.sleep(1.0)
        term.type(b"t")  # the fleet's key for the selected agent's shell
        ready(term)
        result = measure(term, sizes, log, samples)
        ui_idle = ui_key_samples(term, samples, 0.1)
        start_flood(term)
        ui_flood = ui_key_samples(term, samples, 0.1)
        stop_flood(term)
        result.update(ui_key_p95_ms_idle=p95(ui_idle), ui_key_p95_ms_flood=p95(ui_flood))
        return result
    finally:
        term.close()


def measure(term: OuterTerminal, sizes: dict[str, int], log: Path, samples: int
            ) -> dict[str, float]:
    """Both workloads, then the echo during a flood: one side's numbers."""
    yes = throughput(term, f"yes | head -c {sizes['yes']}", sizes["yes"])
    log_rate = throughput(term, f"cat {log}", sizes["log"])
    start_flood(term)
    echo = echo_samples(term, samples, 0.1)
    stop_flood(term)
    return {"yes_mb_per_s": round(yes, 3), "log_mb_per_s": round(log_rate, 3),
            "echo_p95_ms_flood": p95(echo), "echo_lost": term.lost}


def tmux(work: Path, sizes: dict[str, int], log: Path, samples: int) -> dict[str, float]:
    env = shell_env(work)
    socket = str(work / "tmux.sock")
    conf = work / "tmux.conf"
    conf.write_text("set -g status off\nset -g escape-time 0\n")
    term = OuterTerminal(["tmux", "-S", socket, "-f", str(conf), "new-session",
                          "bash --norc --noprofile"], env, cwd=work)
    try:
        ready(term)
        return measure(term, sizes, log, samples)
    finally:
        term.close()
        os.system(f"tmux -S {socket} kill-server 2>/dev/null")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="0.5 MB of yes, 1 MB of log, 12 samples (same for both sides)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("bench/terminal.py: tmux is the baseline and is not installed "
                         "(apt-get install tmux)")
    sizes = {"yes": 500_000, "log": 1_000_000} if args.quick else \
        {"yes": 20_000_000, "log": 50_000_000}
    samples = 12 if args.quick else 40
    with tempfile.TemporaryDirectory(prefix="hivetui-bench-terminal-") as tmp:
        work = Path(tmp)
        log = work / "coloured.log"
        log.write_bytes(coloured_log(sizes["log"]))
        sizes["log"] = log.stat().st_size
        ours = embedded(work, sizes, log, samples)
        base = tmux(work, sizes, log, samples)
    result = {
        **ours,
        "tmux_yes_mb_per_s": base["yes_mb_per_s"],
        "tmux_log_mb_per_s": base["log_mb_per_s"],
        "ratio_yes": round(ours["yes_mb_per_s"] / base["yes_mb_per_s"], 3),
        "ratio_log": round(ours["log_mb_per_s"] / base["log_mb_per_s"], 3),
        "tmux_echo_p95_ms_flood": base["echo_p95_ms_flood"],
        "tmux_echo_lost": base["echo_lost"],
        "yes_bytes": sizes["yes"], "log_bytes": sizes["log"], "samples": samples,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
