"""The real local backend: real namespaces (bwrap and unshare), real processes, real /proc."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hivetui.containers import procinfo, rootfs
from hivetui.containers.local import LocalBackend
from hivetui.containers.rootfs import install_paths
from hivetui.core.errors import ContainerError
from hivetui.core.ports import ContainerExit, ContainerSpec

TOOLS = [pytest.param("bwrap", marks=pytest.mark.skipif(shutil.which("bwrap") is None,
                                                         reason="bubblewrap not installed")),
         "unshare"]
SLEEP = "exec sleep 60"


def make_spec(base: Path, name: str, script: str) -> ContainerSpec:
    agent = base / "agents" / name
    run = agent / "run"
    run.mkdir(parents=True, exist_ok=True)
    os.chmod(base / "agents", 0o700)
    (run / "token").write_text("secret-token\n")
    os.chmod(run / "token", 0o600)
    return ContainerSpec(name=name, state_dir=agent / "state", run_dir=run,
                         log_file=agent / "container.log", argv=("/bin/sh", "-c", script),
                         env={"HIVETUI_AGENT": name})


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def container_pid(backend: LocalBackend, name: str) -> int:
    info = backend._dir(name).container()
    assert info is not None
    return int(info["pid"])


def main_process(backend: LocalBackend, name: str) -> int:
    """Host pid of the container's first process: the child of our init that leads a
    session of its own (its other child, the forwarder of a private network, does not)."""
    init = container_pid(backend, name)
    deadline = time.monotonic() + 5.0
    while True:
        kids = [k for k in procinfo.children(init) if os.getsid(k) == k]
        if len(kids) == 1 or time.monotonic() > deadline:
            assert len(kids) == 1, kids
            return kids[0]
        time.sleep(0.02)


@pytest.fixture(params=TOOLS)
async def env(request: pytest.FixtureRequest, tmp_path: Path
              ) -> AsyncIterator[tuple[LocalBackend, Path]]:
    root = tmp_path / "agents"  # as the node wires it: beside each agent's state
    backend = LocalBackend(root, tool=request.param, stop_timeout=2.0)
    yield backend, tmp_path
    # containers outlive backends by design: end them whatever the test did
    await backend.aclose()
    async with LocalBackend(root, tool=request.param, stop_timeout=1.0) as sweeper:
        for name in await sweeper.running():
            await sweeper.stop(name)


Env = tuple[LocalBackend, Path]


async def started(backend: LocalBackend, base: Path, name: str, script: str) -> ContainerSpec:
    spec = make_spec(base, name, script)
    await backend.create(spec)
    await backend.start(name)
    return spec


def expected_outside_uid(backend: LocalBackend) -> int:
    return backend.uid if backend.uid is not None else os.getuid()


async def test_root_inside_is_unprivileged_outside(env: Env) -> None:
    backend, base = env
    spec = await started(backend, base, "uid", f"id -u > /state/uid; {SLEEP}")
    await wait_for(lambda: (spec.state_dir / "uid").exists()
                   and (spec.state_dir / "uid").stat().st_size > 0)
    assert (spec.state_dir / "uid").read_text().strip() == "0"
    outside = procinfo.owner_uid(main_process(backend, "uid"))
    assert outside == expected_outside_uid(backend)
    if os.geteuid() == 0:
        assert outside != 0, "container root must not be root outside"
        assert spec.state_dir.stat().st_uid == outside  # the state dir was handed over
    assert "uid" in await backend.running()


async def test_host_processes_are_invisible(env: Env) -> None:
    backend, base = env
    spec = await started(backend, base, "ps",
                         "for p in /proc/[0-9]*; do echo ${p#/proc/} $(tr '\\0' ' ' "
                         "< $p/cmdline); done > /state/procs; ps -e -o comm= > /state/ps;"
                         f" {SLEEP}")
    await wait_for(lambda: (spec.state_dir / "ps").exists()
                   and (spec.state_dir / "ps").stat().st_size > 0)
    procs = (spec.state_dir / "procs").read_text().splitlines()
    pids = sorted(int(line.split()[0]) for line in procs)
    assert pids[0] == 1 and len(pids) <= 4, procs
    assert not any("pytest" in line for line in procs), procs
    ps_names = (spec.state_dir / "ps").read_text().split()
    assert "python3" in ps_names[0] or ps_names[0].startswith("python"), ps_names  # our init
    assert len(ps_names) <= 4, ps_names


async def test_state_persists_across_restart(env: Env) -> None:
    backend, base = env
    script = "n=$(cat /state/n 2>/dev/null || echo 0); echo $((n+1)) > /state/n; " + SLEEP
    spec = await started(backend, base, "keep", script)
    counter = spec.state_dir / "n"
    await wait_for(lambda: counter.exists() and counter.read_text().strip() == "1")
    await backend.restart("keep")
    await wait_for(lambda: counter.read_text().strip() == "2")
    await backend.stop("keep")
    await backend.destroy("keep")
    assert counter.read_text().strip() == "2"  # destroy keeps the agent's state
    assert not (backend.root / "keep" / "supervisor").exists()


async def test_writes_outside_state_and_tmp_fail(env: Env) -> None:
    backend, base = env
    targets = ["/", "/usr", "/etc", "/var/tmp", "/run", "/run/hive", "/dev", "/root",
               str(Path.home()), "/state", "/tmp", "/dev/shm"]
    script = "for d in " + " ".join(targets) + (
        '; do if echo x > "$d/probe" 2>/dev/null; then echo "$d ok"; else echo "$d denied"; '
        "fi; done > /state/results; mount -o remount,rw /usr 2>/dev/null && echo remounted "
        ">> /state/results; " + SLEEP)
    spec = await started(backend, base, "ro", script)
    results_file = spec.state_dir / "results"
    await wait_for(lambda: results_file.exists()
                   and len(results_file.read_text().splitlines()) >= len(targets))
    await asyncio.sleep(0.1)
    results = dict(line.split() for line in results_file.read_text().splitlines())
    writable = {d for d, verdict in results.items() if verdict == "ok"}
    assert writable == {"/state", "/tmp", "/dev/shm"}, results
    assert "remounted" not in results
    leaked = [p for p in (Path("/usr/probe"), Path("/var/tmp/probe")) if p.exists()]
    assert not leaked
    assert (spec.state_dir / "probe").exists()


async def test_the_host_beyond_the_system_and_the_install_is_out_of_sight(env: Env) -> None:
    """Everything the container sees outside its own dirs is the host's system, the hive's
    install, or a directory leading to the install; /etc holds only the kept entries."""
    backend, base = env
    installs = install_paths()
    own = ["/proc", "/sys", "/dev", "/usr", "/nix", "/etc", "/tmp", "/state", "/run"]
    prune = " -o ".join(f"-path {p}" for p in [*own, *installs])
    spec = await started(backend, base, "seen", (
        f"find / \\( {prune} \\) -prune -o -print > /state/seen; ls -A /etc > /state/etc; "
        f"echo done >> /state/etc; {SLEEP}"))
    etc_file = spec.state_dir / "etc"
    await wait_for(lambda: etc_file.exists() and "done" in etc_file.read_text())
    system = {f"/{name}" for name in rootfs.SYSTEM_TOP}
    seen = (spec.state_dir / "seen").read_text().splitlines()
    stray = [p for p in seen if p != "/" and p not in system and p not in own
             and not any(i.startswith(p + "/") for i in installs)]
    assert stray == [], stray
    etc = set(etc_file.read_text().split()) - {"done"}
    assert etc and all(e in rootfs.ETC_KEEP or e.startswith(rootfs.ETC_KEEP_PREFIXES)
                       for e in etc), etc
    assert "shadow" not in etc and "passwd" in etc
    assert not any(str(base) == p or str(base).startswith(p + "/") for p in installs)


_NET_PROBE = r"""
import json, socket, sys
out = {}
c = socket.create_connection(("127.0.0.1", 7801), timeout=5)
c.sendall(b"ping")
c.shutdown(socket.SHUT_WR)
out["forwarded"] = c.recv(100).decode()
s = socket.socket()
s.settimeout(3)
out["host_loopback"] = str(s.connect_ex(("127.0.0.1", int(sys.argv[1]))))
out["interfaces"] = [name for _, name in socket.if_nameindex()]
with open("/proc/self/mountinfo") as fh:
    out["mountinfo"] = fh.read()
print("NET " + json.dumps(out))
"""


async def test_own_network_forwarded_services_and_an_overlaid_state(env: Env) -> None:
    """Loopback only; 127.0.0.1:7801 inside reaches the unix socket the core puts in the
    run dir's net/; a listener on the host's loopback is not there; /state is an overlay
    that names no host path (with either tool, so with unshare's own loopback set-up)."""
    backend, base = env
    spec = make_spec(base, "net", SLEEP)
    (spec.run_dir / "net").mkdir()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"core got " + await reader.read())
        await writer.drain()
        writer.close()

    core = await asyncio.start_unix_server(answer, path=str(spec.run_dir / "net" / "bridge.sock"))
    os.chmod(spec.run_dir / "net" / "bridge.sock", 0o666)
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        await backend.create(spec)
        await backend.start("net")
        proc = await asyncio.create_subprocess_exec(
            *backend.shell_argv("net"), "-c", 'exec python3 -c "$1" "$2"', "sh", _NET_PROBE,
            str(listener.getsockname()[1]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = (await asyncio.wait_for(proc.communicate(), 30))[0].decode()
    finally:
        listener.close()
        core.close()
    line = next((x for x in out.splitlines() if x.startswith("NET ")), None)
    assert line is not None, out
    got = json.loads(line[4:])
    assert got["forwarded"] == "core got ping"
    assert got["host_loopback"] == str(errno.ECONNREFUSED)
    assert got["interfaces"] == ["lo"]
    state = str(spec.state_dir.resolve())
    assert state not in got["mountinfo"]
    mounts = {x.split()[4]: x.split(" - ")[1].split()[0] for x in got["mountinfo"].splitlines()}
    assert mounts["/state"] == "overlay"
    assert "/run/hive-state" not in mounts  # init's staging is gone before the agent runs


async def test_log_has_timestamped_lines(env: Env) -> None:
    backend, base = env
    spec = await started(backend, base, "log", "echo hello; echo oops >&2; " + SLEEP)
    await wait_for(lambda: "oops" in spec.log_file.read_text())
    lines = await backend.logs("log", 50)
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
    assert lines and all(stamp.match(line) for line in lines), lines
    assert any(line.endswith(" hello") for line in lines)
    assert any(line.endswith(" oops") for line in lines)
    assert await backend.logs("log", 1) == lines[-1:]


async def test_follow_logs_yields_new_lines(env: Env) -> None:
    backend, base = env
    # the go-ahead comes through the run dir: /state is an overlay, which sees what the
    # host adds under it only from its next start
    spec = await started(backend, base, "fol", "while [ ! -e /run/hive/go ]; do sleep 0.05; "
                         "done; echo after-go; " + SLEEP)
    follower = backend.follow_logs("fol")
    nxt = asyncio.ensure_future(anext(follower))
    await asyncio.sleep(0.2)
    (spec.run_dir / "go").write_text("")
    line = await asyncio.wait_for(nxt, 3)
    assert line.endswith(" after-go")
    await follower.aclose()  # type: ignore[attr-defined]


#: a crash is reported within this: the pidfd wakes the core at once; the kernel's tearing
#: down of the container's own network namespace takes a few tenths of a second (measured
#: 0.2 s more than with the host's network on an idle machine)
CRASH_SEEN_S = 1.0


async def next_exit(exits: AsyncIterator[ContainerExit], timeout: float) -> ContainerExit:
    return await asyncio.wait_for(anext(exits), timeout)


async def test_killed_process_yields_one_exit_at_once(env: Env) -> None:
    backend, base = env
    exits = backend.exits()
    await started(backend, base, "kill", SLEEP)
    victim = main_process(backend, "kill")
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    ex = await next_exit(exits, CRASH_SEEN_S)
    latency = time.monotonic() - t0
    assert ex == ContainerExit("kill", -signal.SIGKILL, requested=False)
    assert latency < CRASH_SEEN_S
    assert "kill" not in await backend.running()
    with pytest.raises(TimeoutError):
        await next_exit(exits, 0.3)  # exactly one
    last = await backend.logs("kill", 1)
    assert "exited with status -9" in last[0]


async def test_stop_is_graceful_then_forceful(env: Env) -> None:
    backend, base = env
    exits = backend.exits()
    spec = await started(backend, base, "term", "trap 'echo got-term; exit 0' TERM; "
                         "echo armed; while :; do sleep 0.05; done")
    await wait_for(lambda: "armed" in spec.log_file.read_text())
    await backend.stop("term")
    assert await next_exit(exits, 0.1) == ContainerExit("term", 0, requested=True)
    assert any("got-term" in line for line in await backend.logs("term", 10))
    backend.stop_timeout = 0.3
    spec = await started(backend, base, "stub",
                         "trap '' TERM; echo armed; while :; do sleep 0.05; done")
    await wait_for(lambda: "armed" in spec.log_file.read_text())
    t0 = time.monotonic()
    await backend.stop("stub")
    assert 0.3 <= time.monotonic() - t0 < 2.0
    ex = await next_exit(exits, 0.1)
    assert ex.name == "stub" and ex.requested and ex.status == -signal.SIGKILL
    assert await backend.running() == set()
    await backend.stop("stub")  # stopping a stopped container is a no-op


async def test_new_instance_readopts_running_container(env: Env) -> None:
    backend, base = env
    await started(backend, base, "adopt", SLEEP)
    pid = container_pid(backend, "adopt")
    await backend.aclose()  # the core goes away; the container must not
    await asyncio.sleep(0.2)
    assert procinfo.start_ticks(pid) is not None
    async with LocalBackend(backend.root, tool=backend.tool, stop_timeout=2.0) as second:
        assert await second.running() == {"adopt"}
        exits = second.exits()
        victim = main_process(second, "adopt")
        os.kill(victim, signal.SIGKILL)
        ex = await next_exit(exits, CRASH_SEEN_S)
        assert ex.name == "adopt" and not ex.requested
        await second.start("adopt")
        await second.stop("adopt")
        assert (await next_exit(exits, 0.1)).requested
        assert await second.running() == set()


async def test_shell_argv_opens_root_shell_inside(env: Env) -> None:
    backend, base = env
    spec = await started(backend, base, "sh",
                         "echo from-container > /tmp/mark; echo marked; " + SLEEP)
    await wait_for(lambda: "marked" in spec.log_file.read_text())
    argv = backend.shell_argv("sh")
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(
        proc.communicate(b"id -u; hostname; pwd; cat /tmp/mark; ls /proc | grep -c '^[0-9]'\n"),
        10)
    lines = out.decode().split()
    assert proc.returncode == 0, err
    assert lines[:4] == ["0", "h-sh", "/state", "from-container"], (out, err)
    assert int(lines[4]) <= 6  # the container's processes only
    with pytest.raises(ContainerError, match="not running"):
        backend.shell_argv("nope")


async def test_rebuild_runs_the_new_spec(env: Env) -> None:
    backend, base = env
    spec = await started(backend, base, "reb", "echo one > /state/v; " + SLEEP)
    await wait_for(lambda: (spec.state_dir / "v").exists()
                   and (spec.state_dir / "v").read_text().strip() == "one")
    new = make_spec(base, "reb", "echo two > /state/v; " + SLEEP)
    await backend.rebuild(new)
    assert await backend.running() == {"reb"}
    await wait_for(lambda: (spec.state_dir / "v").read_text().strip() == "two")


FAKE_BROKEN = """#!/bin/sh
echo "{tool}: unshare failed: Operation not permitted" >&2
exit 1
"""


@pytest.mark.parametrize("tool", ["bwrap", "unshare"])
async def test_missing_namespaces_is_a_loud_error_unless_allowed(
        tool: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        request: pytest.FixtureRequest) -> None:
    bindir = Path(tempfile.mkdtemp(prefix="hivetui-fake-"))  # the container uid must reach it
    os.chmod(bindir, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(bindir))
    fake = bindir / f"fake-broken-{tool}"
    fake.write_text(FAKE_BROKEN.format(tool=tool))
    fake.chmod(0o755)
    spec = make_spec(tmp_path, "iso", "id -u > $HIVETUI_STATE_DIR/uid; echo ran-unisolated")
    strict = LocalBackend(tmp_path / "c1", tool=tool, **{tool: str(fake)})  # type: ignore[arg-type]
    with pytest.raises(ContainerError, match="user namespaces are unavailable.*Operation not"):
        await strict.create(spec)
    await strict.aclose()
    caplog.set_level("WARNING")
    loose = LocalBackend(tmp_path / "c2", tool=tool, allow_unisolated=True,
                         **{tool: str(fake)})  # type: ignore[arg-type]
    exits = loose.exits()
    await loose.create(spec)
    assert "UNISOLATED" in caplog.text
    await loose.start("iso")
    ex = await next_exit(exits, 5)
    assert ex.status == 0
    assert (spec.state_dir / "uid").read_text().strip() == str(os.getuid())
    assert any("ran-unisolated" in line for line in await loose.logs("iso", 5))
    await loose.aclose()


async def test_start_failure_is_reported(env: Env) -> None:
    backend, base = env
    spec = make_spec(base, "bad", "true")
    await backend.create(spec)
    # a bind whose target cannot be created on the read-only host tree
    plan = backend._dir("bad").read_plan()
    assert plan is not None
    from dataclasses import replace

    from hivetui.containers.sandbox import PlanBind

    broken = replace(plan, binds=[*plan.binds, PlanBind(str(base), "/usr/no-such-dir", False)])
    backend._dir("bad").write_plan(broken)
    with pytest.raises(ContainerError, match="did not start"):
        await backend.start("bad")
    assert await backend.running() == set()


Starter = Callable[[], Awaitable[None]]


async def test_core_interpreter_runs_inside(env: Env) -> None:
    """The harness argv is `sys.executable -m hivetui harness`: it must run inside."""
    backend, base = env
    spec = make_spec(base, "py", "")
    spec = ContainerSpec(**{**spec.__dict__, "argv": (
        sys.executable, "-c", "import mcp, hivetui.harness.main, os; "
        "print('harness-python-ok', os.getuid(), os.environ['HIVETUI_AGENT'])")})
    exits = backend.exits()
    await backend.create(spec)
    await backend.start("py")
    ex = await next_exit(exits, 20)
    lines = await backend.logs("py", 20)
    assert ex.status == 0, lines
    assert any(line.endswith("harness-python-ok 0 py") for line in lines), lines


UNPRIVILEGED_CORE = r"""
import asyncio, json, os, sys
from pathlib import Path
from hivetui.containers import procinfo, rootfs
from hivetui.containers.local import LocalBackend
from hivetui.containers.rootfs import install_paths
from hivetui.core.ports import ContainerSpec

async def main(base, tool):
    run = base / "agents/a/run"
    run.mkdir(parents=True)
    (run / "token").write_text("tok")
    os.chmod(run / "token", 0o600)
    spec = ContainerSpec(name="a", state_dir=base / "agents/a/state", run_dir=run,
                         log_file=base / "agents/a/container.log",
                         argv=("/bin/sh", "-c", "id -u > /state/uid; cat /run/hive/token "
                               "> /state/tok; echo armed; exec sleep 30"))
    b = LocalBackend(base / "agents", tool=tool)
    await b.create(spec)
    await b.start("a")
    while "armed" not in spec.log_file.read_text():
        await asyncio.sleep(0.02)
    outside = procinfo.owner_uid(procinfo.children(int(b._dir("a").container()["pid"]))[0])
    proc = await asyncio.create_subprocess_exec(*b.shell_argv("a"), stdin=-1, stdout=-1)
    shell, _ = await proc.communicate(b"id -u\n")
    await b.stop("a")
    state = spec.state_dir
    print(json.dumps({"inside": (state / "uid").read_text().strip(),
                      "token": (state / "tok").read_text(), "outside": outside,
                      "me": os.getuid(), "shell": shell.decode().strip()}))

asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an ordinary user")
@pytest.mark.parametrize("tool", TOOLS)
async def test_core_as_ordinary_user_maps_root_to_itself(tool: str) -> None:
    """The other mode: hivetui run by an ordinary user (here uid 65534)."""
    base = Path(tempfile.mkdtemp(prefix="hivetui-user-"))
    try:
        os.chown(base, 65534, 65534)
        python = LocalBackend(base, uid=65534)._init_python()  # one that uid may run
        proc = await asyncio.create_subprocess_exec(
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", python,
            "-c", UNPRIVILEGED_CORE, str(base), tool,
            # hivetui and its dependencies, as an ordinary user's install has them
            env={"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join(
                [LocalBackend._pythonpath(), *site.getsitepackages()])},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        result = json.loads(out.decode().splitlines()[-1])
        assert result == {"inside": "0", "token": "tok", "outside": 65534, "me": 65534,
                          "shell": "0"}
    finally:
        shutil.rmtree(base, ignore_errors=True)
