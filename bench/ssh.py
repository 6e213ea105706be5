"""SSH session start latency and memory per session.

The server (a hive with its control socket and the SSH server) runs in its own process;
this process is the client (asyncssh, one PTY session per connection). Measured:

- ``session_start_p50_s``: connect + key auth + PTY + first byte of the session program,
  sessions opened one after another (each stays open).
- ``rss_mb_per_session``: (server RSS growth + RSS of every session process) / sessions,
  with all sessions open; ``pss_mb_per_session`` counts shared pages once.
- baselines in the same run: ``connect_auth_p50_s`` (connect + auth, no session) and
  ``pty_spawn_p50_s`` (the same program started on a local PTY, to its first byte).

The session program (``child`` in the JSON) is the real ``hivetui attach --socket SOCK``
(default), or with ``--child stand-in`` the tests' small fake child (to isolate the
server's own cost). With attach, ``session_render_p50_s`` is the time until the fleet
shows its agent. Last line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hivetui.ssh.ptychild import PtyChild, read_master  # noqa: E402

FAKE = ROOT / "tests" / "fakes" / "fake_attach_child.py"


def child_argv(kind: str, socket: Path) -> list[str]:
    if kind == "attach":
        return [sys.executable, "-m", "hivetui", "attach", "--socket", str(socket)]
    return [sys.executable, str(FAKE)]


# --- server process ----------------------------------------------------------------------
async def serve(state: Path, keys: Path, kind: str, sessions: int) -> None:
    from hivetui.control.server import ControlServer
    from hivetui.control.sessions import SessionTokens
    from hivetui.core.config import SSHConfig
    from hivetui.core.hive import Hive
    from hivetui.ssh.server import SSHServer, SSHSite

    async with Hive(state) as hive:
        tokens = SessionTokens()
        control = ControlServer(hive, sessions=tokens)
        hive.add_service("control", control.run)
        socket = await control.ready()
        await hive.registry.create("worker", runtime="scripted:echo", model="m")
        site = SSHSite(authorized_keys=keys, state_dir=state, socket=socket,
                       child_argv=child_argv(kind, socket))
        async with SSHServer(site, tokens, hive.audit,
                             SSHConfig(max_sessions=sessions + 5)) as server:
            print(json.dumps({"port": server.port}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# --- client side -------------------------------------------------------------------------
def mem_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in kB."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def descendants(root: int) -> list[int]:
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    raw = fh.read()
            except OSError:
                continue
            parent[int(name)] = int(raw[raw.rfind(")") + 2:].split()[1])
    found: list[int] = []
    frontier = {root}
    while frontier:
        nxt = {p for p, pp in parent.items() if pp in frontier}
        found += sorted(nxt)
        frontier = nxt
    return found


async def pty_baseline(argv: list[str], n: int, xdg: Path) -> list[float]:
    out = []
    env = {k: v for k, v in os.environ.items()} | {"TERM": "xterm-256color"}
    env["XDG_STATE_HOME"] = str(xdg)
    for _ in range(n):
        t0 = time.perf_counter()
        child = PtyChild.spawn(argv, env, 100, 30)
        got = asyncio.Event()
        loop = asyncio.get_running_loop()

        def first_byte(c: PtyChild = child, g: asyncio.Event = got) -> None:
            if read_master(c.master_fd):
                g.set()

        loop.add_reader(child.master_fd, first_byte)
        await asyncio.wait_for(got.wait(), 30)
        out.append(time.perf_counter() - t0)
        loop.remove_reader(child.master_fd)
        await child.terminate(0.5)
    return out


async def run(args: argparse.Namespace) -> dict[str, object]:
    kind = args.child
    n = args.sessions
    tmp = Path(tempfile.mkdtemp(prefix="bench-ssh-"))
    key = asyncssh.generate_private_key("ssh-ed25519")
    keys = tmp / "authorized_keys"
    keys.write_text(key.export_public_key().decode().strip() + " bench\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(tmp / "state"), str(keys), kind, str(n),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
        # `hivetui attach` logs under the default state dir: keep it in the bench's tmp
        env={**os.environ, "XDG_STATE_HOME": str(tmp / "xdg")})
    assert proc.stdout is not None and proc.stdin is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    port = json.loads(line)["port"]
    opts = {"client_keys": [key], "known_hosts": None, "agent_path": None, "config": None}
    await asyncio.sleep(0.5)
    base_rss, base_pss = mem_kb(proc.pid)

    connect_times = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with asyncssh.connect("127.0.0.1", port, **opts):
            connect_times.append(time.perf_counter() - t0)

    conns, procs, starts, renders = [], [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        conn = await asyncssh.connect("127.0.0.1", port, **opts)
        p = await conn.create_process(term_type="xterm-256color", term_size=(120, 40),
                                      encoding=None)
        seen = await asyncio.wait_for(p.stdout.read(1), 60)
        starts.append(time.perf_counter() - t0)
        if kind != "stand-in":
            while b"worker" not in seen:
                seen += await asyncio.wait_for(p.stdout.read(65536), 60)
            renders.append(time.perf_counter() - t0)
        conns.append(conn)
        procs.append(p)
    await asyncio.sleep(args.settle)  # let the programs finish starting (imports, first frame)
    rss, pss = mem_kb(proc.pid)
    kids = descendants(proc.pid)
    kid_mem = [mem_kb(k) for k in kids]
    kid_rss, kid_pss = sum(r for r, _ in kid_mem), sum(p for _, p in kid_mem)

    for conn in conns:
        conn.close()
    for conn in conns:
        await conn.wait_closed()
    deadline = time.monotonic() + 15
    while descendants(proc.pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    left = descendants(proc.pid)
    proc.stdin.close()
    await asyncio.wait_for(proc.wait(), 30)

    spawn_times = await pty_baseline(child_argv(kind, tmp / "state" / "run" / "control.sock"),
                                     min(n, 5), tmp / "xdg")
    shutil.rmtree(tmp, ignore_errors=True)
    mb = 1024.0
    return {
        "bench": "ssh", "child": kind, "sessions": n,
        "session_start_p50_s": round(statistics.median(starts), 4),
        "session_start_max_s": round(max(starts), 4),
        "session_render_p50_s": round(statistics.median(renders), 4) if renders else None,
        "connect_auth_p50_s": round(statistics.median(connect_times), 4),
        "pty_spawn_p50_s": round(statistics.median(spawn_times), 4),
        "rss_mb_per_session": round(((rss - base_rss) + kid_rss) / mb / n, 2),
        "pss_mb_per_session": round(((pss - base_pss) + kid_pss) / mb / n, 2),
        "server_rss_mb_idle": round(base_rss / mb, 1),
        "server_rss_mb_loaded": round(rss / mb, 1),
        "session_processes": len(kids),
        "processes_left_after_disconnect": len(left),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="finish within 60 s (the default)")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--child", choices=["attach", "stand-in"], default="attach")
    ap.add_argument("--settle", type=float, default=None,
                    help="seconds to let sessions start before measuring memory")
    args = ap.parse_args()
    if args.settle is None:
        args.settle = 1.0 if args.quick else 3.0
    result = asyncio.run(run(args))
    for k, v in result.items():
        print(f"{k:34} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
