"""Start-up latency at a real terminal: from launch until the first full screen is visible.

Every program runs on a PTY that this process creates and reads (its controlling
terminal, 120x36, ``TERM=xterm-256color``). Its output goes through pyte: the **first
frame** is the moment every marker of the program's first screen is on pyte's screen at
once: for hivetui the fleet's status line (``N agents · sorted by``) and the footer's
key hints; for the bare app its text and its footer. The clock starts just before the
process is spawned, so interpreter start and imports count.

Fields of the JSON line (each the median of ``--runs`` rounds; a round runs every kind
once, one after another, so the kinds compare under the same load; round 0 is a warm-up,
not counted, so caches and ``.pyc`` files are warm as on a used install):

- ``bare_textual_s``: a bare Textual app (Header, Static, Footer), the baseline.
- ``embedded_first_frame_s``: ``hivetui`` (core and app in one process) on a fresh state
  directory each round.
- ``attach_first_frame_s``: ``hivetui attach`` to a running ``hivetui serve``.
- ``ssh_first_frame_p50_s``: ``--sessions`` real OpenSSH ``ssh`` clients started at once
  against the same ``hivetui serve --ssh``, each on its own PTY; a round's value is the
  median of its sessions.
- ``embedded_ratio``: ``embedded_first_frame_s / bare_textual_s``.

Programs are killed once their first frame is seen (only start-up is measured); the
next round waits until the server has ended the last round's SSH sessions.
``*_cpu_s`` fields give the CPU time (user + system) the program used until its first
frame, less sensitive than wall time to a busy machine (``ssh_session_cpu_s``: the
server's session programs, per session, once all ten showed the fleet).
``*_range_s`` fields give each kind's fastest and slowest round, ``load1_before_after``
the machine's 1-minute load average around the bench: the machine may be shared, run it
more than once. ``--quick`` finishes within 60 s. Last line: JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hivetui.core.paths import StatePaths  # noqa: E402

COLUMNS, ROWS = 120, 36
FLEET_MARKERS = (r"\d+ agents? · sorted by", r"\bHelp\b")
BARE_TEXT = "bench: a bare Textual app"
BARE_MARKERS = (re.escape(BARE_TEXT), r"\bHelp\b")
# Escape sequences removed before the cheap text check that gates pyte (see Screen.ready)
_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=$ ]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
                      rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78MDEc]")


def bare_app() -> None:
    """The baseline: the smallest full-screen Textual app (what a Textual app costs)."""
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.widgets import Footer, Header, Static

    class Bare(App[None]):
        BINDINGS = [Binding("question_mark", "noop", "Help")]

        def compose(self) -> ComposeResult:
            yield Header()
            yield Static(BARE_TEXT)
            yield Footer()

        def action_noop(self) -> None:
            pass

    Bare().run()


# --- a program on a PTY, watched through pyte -----------------------------------------
class Watched:
    """One program on its own PTY: output read as it comes, first frame time noted."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], markers: Sequence[str]
                 ) -> None:
        self.markers = [re.compile(m) for m in markers]
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=ROOT, start_new_session=True,
                                     preexec_fn=_take_terminal)
        os.close(slave)
        os.set_blocking(master, False)
        self.fd = master
        self.raw = bytearray()
        self.text = bytearray()  # the output without escape sequences (the cheap check)
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.fed = 0
        self.first_frame: float | None = None
        self.cpu_s = 0.0  # the program's CPU time (user + system) at its first frame
        self.eof = False

    def on_readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return
        now = time.perf_counter()
        self.raw += data
        if self.first_frame is None and self._ready():
            self.first_frame = now - self.started
            self.cpu_s = cpu_seconds(self.proc.pid)

    def _ready(self) -> bool:
        """All markers on pyte's screen; pyte only runs once the plain text has them."""
        self.text = bytearray(_ESCAPES.sub(b"", bytes(self.raw)))
        plain = self.text.decode("utf-8", "replace")
        if not all(m.search(plain) for m in self.markers):
            return False
        self.stream.feed(bytes(self.raw[self.fed:]))
        self.fed = len(self.raw)
        lines = self.screen.display
        return all(any(m.search(line) for line in lines) for m in self.markers)

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.fd, data)

    def close(self) -> None:
        """Kill the program's process group at once: only its start is measured, and a
        graceful exit would compete with the next run for the CPU."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        os.close(self.fd)

    def tail(self) -> str:
        self.stream.feed(bytes(self.raw[self.fed:]))
        self.fed = len(self.raw)
        return "\n".join(line.rstrip() for line in self.screen.display).strip()


def _take_terminal() -> None:
    """In the child, after setsid: make the PTY (fd 0) its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def pump(watched: Sequence[Watched], timeout: float) -> None:
    sel = selectors.DefaultSelector()
    for w in watched:
        if not w.eof:
            sel.register(w.fd, selectors.EVENT_READ, w)
    try:
        for key, _ in sel.select(timeout):
            key.data.on_readable()
    finally:
        sel.close()


def first_frames(watched: Sequence[Watched], timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while any(w.first_frame is None for w in watched):
        if time.monotonic() > deadline or any(w.eof for w in watched if w.first_frame is None):
            late = next(w for w in watched if w.first_frame is None)
            raise SystemExit(f"startup bench: no first frame from {late.proc.args!r} "
                             f"within {timeout:.0f} s; its screen:\n{late.tail()}")
        pump(watched, 0.1)
    return [w.first_frame for w in watched if w.first_frame is not None]


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (less sensitive to a busy machine than wall time); 0 for
    a process that is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(argv: Sequence[str], env: dict[str, str], markers: Sequence[str]
             ) -> tuple[float, float]:
    """(first frame, CPU time spent until then) of one run."""
    w = Watched(argv, env, markers)
    try:
        return first_frames([w], 60)[0], w.cpu_s
    finally:
        w.close()


def run_many(argvs: Sequence[Sequence[str]], env: dict[str, str], markers: Sequence[str],
             cpu: Callable[[], float]) -> tuple[float, float]:
    """Start every program at once: the median of their first-frame times, and ``cpu()``
    once every program showed its first frame."""
    watched = [Watched(argv, env, markers) for argv in argvs]
    try:
        return statistics.median(first_frames(watched, 90)), cpu()
    finally:
        for w in watched:
            w.close()


# --- the hive the attach and SSH sessions talk to -------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path, env: dict[str, str], port: int, keys: Path, sessions: int,
                 preload: bool) -> subprocess.Popen[bytes]:
    """`hivetui serve --ssh` that lets ``sessions`` clients of one address log in at once
    (the default admits 4 unauthenticated connections per address: see ssh.admission)."""
    config = tmp / "serve.toml"
    config.write_text(f"[ssh]\nmax_unauthenticated = {max(sessions, 10)}\n"
                      f"max_unauthenticated_per_source = {sessions}\n"
                      f"max_sessions = {sessions + 10}\n"
                      + ("" if preload else "preload_sessions = false\n"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hivetui", "serve", "--state-dir", str(tmp / "served"),
         "--config", str(config), "--ssh", f"127.0.0.1:{port}", "--authorized-keys", str(keys)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, cwd=ROOT, start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    said = b""
    while b"SSH:" not in said:
        line = proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"startup bench: `hivetui serve` did not start: {said!r}")
        said += line
    return proc


def descendants(root: int) -> set[int]:
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                raw = Path(f"/proc/{name}/stat").read_text()
                parent[int(name)] = int(raw[raw.rfind(")") + 2:].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def settle(server: subprocess.Popen[bytes], idle: set[int], timeout: float = 30.0) -> None:
    """Wait until the server has ended the last run's sessions (only ``idle`` are left)."""
    deadline = time.monotonic() + timeout
    while descendants(server.pid) - idle and time.monotonic() < deadline:
        time.sleep(0.05)


def wait_for_log(state: Path, text: str, timeout: float = 60.0) -> None:
    """Until the server's log file says ``text`` (its session zygote is ready)."""
    log = StatePaths(state).log_file
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if text in log.read_text(errors="replace"):
                return
        time.sleep(0.1)
    raise SystemExit(f"startup bench: the server never logged {text!r} in {log}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def make_key(tmp: Path) -> tuple[Path, Path]:
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench",
                    "-f", str(key)], check=True)
    keys = tmp / "authorized_keys"
    keys.write_text(Path(f"{key}.pub").read_text())
    return key, keys


def ssh_argv(port: int, key: Path) -> list[str]:
    return ["ssh", "-F", "/dev/null", "-p", str(port), "-i", str(key),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-t", "operator@127.0.0.1"]


# --- the bench --------------------------------------------------------------------------
def child_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "SSH_AUTH_SOCK", "TEXTUAL")}
    env |= {"TERM": "xterm-256color", "COLORTERM": "truecolor",
            "XDG_STATE_HOME": str(tmp / "xdg-state"), "XDG_CONFIG_HOME": str(tmp / "xdg-conf"),
            "PYTHONPATH": str(ROOT)}
    return env


def bench(args: argparse.Namespace) -> dict[str, object]:
    """Rounds of bare, embedded, attach and the SSH batch, one after another, so the
    kinds compare under the same load on a shared machine; round 0 is the warm-up."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env = child_env(tmp)
    py = sys.executable
    times: dict[str, list[float]] = {"bare_textual": [], "embedded_first_frame": [],
                                     "attach_first_frame": [], "ssh_first_frame_p50": []}
    cpu: dict[str, list[float]] = {"bare_textual": [], "embedded_first_frame": [],
                                   "attach_first_frame": [], "ssh_session": []}
    load = [os.getloadavg()[0]]
    key, keys = make_key(tmp)
    port = free_port()
    server = start_server(tmp, env, port, keys, args.sessions, not args.no_preload)
    try:
        if not args.no_preload:
            wait_for_log(tmp / "served", "session zygote ready")
        idle = descendants(server.pid)  # the session zygote, if the server runs one
        sock = tmp / "served" / "run" / "control.sock"
        for round_ in range(args.runs + 1):
            single = {
                "bare_textual": run_once([py, __file__, "--bare-app"], env, BARE_MARKERS),
                "embedded_first_frame": run_once(
                    [py, "-m", "hivetui", "--state-dir", str(tmp / f"fresh-{round_}")],
                    env, FLEET_MARKERS),
                "attach_first_frame": run_once(
                    [py, "-m", "hivetui", "attach", "--socket", str(sock), "--state-dir",
                     str(tmp / "attach-logs")], env, FLEET_MARKERS),
            }
            got = {name: wall for name, (wall, _) in single.items()}
            settle(server, idle)
            got["ssh_first_frame_p50"], sessions_cpu = run_many(
                [ssh_argv(port, key)] * args.sessions, env, FLEET_MARKERS,
                lambda: sum(map(cpu_seconds, descendants(server.pid) - idle)))
            settle(server, idle)
            print(f"round {round_}{' (warm-up)' if not round_ else ''}: "
                  + " ".join(f"{k}={v:.3f}" for k, v in got.items()), file=sys.stderr,
                  flush=True)
            if round_:
                for name, value in got.items():
                    times[name].append(value)
                for name, (_, used) in single.items():
                    cpu[name].append(used)
                cpu["ssh_session"].append(sessions_cpu / args.sessions)
    finally:
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)
    load.append(os.getloadavg()[0])
    result: dict[str, object] = {"bench": "startup", "runs": args.runs,
                                 "ssh_sessions": args.sessions,
                                 "ssh_preload_sessions": not args.no_preload}
    for name, values in times.items():
        result[f"{name}_s"] = round(statistics.median(values), 3)
        result[f"{name}_range_s"] = [round(min(values), 3), round(max(values), 3)]
    for name, values in cpu.items():
        result[f"{name.removesuffix('_first_frame')}_cpu_s"] = round(
            statistics.median(values), 3)
    result["embedded_ratio"] = round(statistics.median(times["embedded_first_frame"])
                                     / statistics.median(times["bare_textual"]), 2)
    result["load1_before_after"] = [round(v, 2) for v in load]
    return result


def main() -> None:
    if sys.argv[1:] == ["--bare-app"]:
        bare_app()
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="finish within 60 s (the default)")
    ap.add_argument("--runs", type=int, default=5, help="counted runs of each kind")
    ap.add_argument("--sessions", type=int, default=10, help="concurrent ssh sessions")
    ap.add_argument("--no-preload", action="store_true",
                    help="serve with ssh.preload_sessions = false (each session a fresh "
                         "process: the comparison without the zygote)")
    args = ap.parse_args()
    if args.runs < 1 or args.sessions < 1:
        ap.error("--runs and --sessions must be at least 1")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        ap.error("the OpenSSH client (ssh, ssh-keygen) is needed: apt-get install "
                 "openssh-client")
    print(json.dumps(bench(args), ensure_ascii=False))


if __name__ == "__main__":
    main()
