"""The nixos backend against fakes of nixos-container, machinectl, journalctl and systemctl.

The fakes (tests/fakes/nixos) keep state in a temp dir and record every command line,
so these tests assert the exact commands the backend runs.
"""

from __future__ import annotations

import asyncio
import gc
import re
import subprocess
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.containers.nixos import NixosBackend
from hivetui.core.errors import ContainerError, NameError_
from hivetui.core.ports import Bind, ContainerSpec
from hivetui.core.settings import AgentSettings
from tests.fakes.nixos.fakenix import FakeNixos

FLAKE = "github:example/hivetui"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeNixos:
    nix = FakeNixos(tmp_path / "fake-nixos")
    for key, value in nix.env.items():
        monkeypatch.setenv(key, value)
    return nix


@pytest.fixture
async def backend(tmp_path: Path, fake: FakeNixos) -> AsyncIterator[NixosBackend]:
    b = NixosBackend(tmp_path / "flakes", hivetui_flake=FLAKE, **fake.backend_kwargs())
    yield b
    await b.aclose()


def spec_for(tmp_path: Path, name: str = "alpha", **settings: object) -> ContainerSpec:
    agent = tmp_path / "agents" / name
    return ContainerSpec(name=name, state_dir=agent / "state", run_dir=agent / "run",
                         log_file=agent / "container.log", argv=("hivetui", "harness"),
                         settings=AgentSettings(**settings))  # type: ignore[arg-type]


def ref(tmp_path: Path, name: str = "alpha") -> str:
    return f"path:{(tmp_path / 'flakes' / name).resolve()}#h-{name}"


async def test_create_start_stop_run_exact_commands(tmp_path: Path, fake: FakeNixos,
                                                    backend: NixosBackend) -> None:
    spec = spec_for(tmp_path)
    await backend.create(spec)
    assert fake.commands() == [
        ["nixos-container", "list"],
        ["nixos-container", "create", "h-alpha", "--flake", ref(tmp_path)],
    ]
    flake = (tmp_path / "flakes" / "alpha" / "flake.nix").read_text()
    assert 'nixosConfigurations."h-alpha"' in flake
    conf = (fake.state.conf_dir / "h-alpha.conf").read_text().splitlines()
    assert "PRIVATE_NETWORK=0" in conf  # nixos-container's own keys are kept
    assert 'PRIVATE_USERS="pick"' in conf
    assert (f'EXTRA_NSPAWN_FLAGS="--bind={spec.state_dir}:/state:idmap '
            f'--bind-ro={spec.run_dir}:/run/hive:idmap"') in conf
    fake.clear_commands()

    await backend.start("alpha")
    assert await backend.running() == {"alpha"}
    await backend.stop("alpha")
    assert await backend.running() == set()
    await backend.restart("alpha")
    assert fake.commands() == [
        ["nixos-container", "start", "h-alpha"],
        ["machinectl", "list", "-o", "json", "--no-pager"],
        ["nixos-container", "stop", "h-alpha"],
        ["machinectl", "list", "-o", "json", "--no-pager"],
        ["nixos-container", "restart", "h-alpha"],
    ]
    assert backend.exits() is None  # poll mode


async def test_running_set_falls_back_to_systemctl(tmp_path: Path, fake: FakeNixos,
                                                   backend: NixosBackend) -> None:
    for name in ("alpha", "beta"):
        await backend.create(spec_for(tmp_path, name))
    await backend.start("alpha")
    fake.add_declarative("other")  # not ours (no h- prefix): ignored
    fake.break_machinectl()
    fake.clear_commands()
    assert await backend.running() == {"alpha"}
    assert fake.commands() == [
        ["machinectl", "list", "-o", "json", "--no-pager"],
        ["systemctl", "list-units", "container@*", "--all", "--output=json", "--no-pager"],
    ]
    fake.break_machinectl(False)
    assert await backend.running() == {"alpha"}


async def test_logs_from_the_container_journal_then_the_host(
        tmp_path: Path, fake: FakeNixos, backend: NixosBackend) -> None:
    await backend.create(spec_for(tmp_path))
    await backend.start("alpha")
    fake.log("h-alpha", "turn 1 done")
    fake.log("h-alpha", "waiting for inbox")
    fake.clear_commands()
    lines = await backend.logs("alpha", 2)
    assert fake.commands() == [
        ["journalctl", "-M", "h-alpha", "-o", "json", "-n", "2", "--no-pager"]]
    assert [STAMP.sub("", line) for line in lines] == [
        "hivetui[1]: turn 1 done", "hivetui[1]: waiting for inbox"]
    assert all(STAMP.match(line) for line in lines)
    await backend.stop("alpha")
    fake.clear_commands()
    lines = await backend.logs("alpha", 1)  # the container's journal is gone with it
    assert fake.commands() == [
        ["journalctl", "-M", "h-alpha", "-o", "json", "-n", "1", "--no-pager"],
        ["journalctl", "-u", "container@h-alpha.service", "-o", "json", "-n", "1",
         "--no-pager"],
    ]
    assert lines[0].endswith("systemd[1]: Stopped Container 'h-alpha'.")


async def test_follow_logs_streams_new_entries(tmp_path: Path, fake: FakeNixos,
                                               backend: NixosBackend) -> None:
    await backend.create(spec_for(tmp_path))
    await backend.start("alpha")
    fake.log("h-alpha", "old line")
    follower = backend.follow_logs("alpha")
    nxt = asyncio.ensure_future(anext(follower))
    await asyncio.sleep(0.5)
    fake.log("h-alpha", "new line")
    line = await asyncio.wait_for(nxt, 5)
    assert line.endswith("hivetui[1]: new line")
    await follower.aclose()  # type: ignore[attr-defined]
    assert ["journalctl", "-M", "h-alpha", "-o", "json", "-n", "0", "-f",
            "--no-pager"] in fake.commands()


async def test_restart_on_failure_brings_a_crashed_container_back(
        tmp_path: Path, fake: FakeNixos, backend: NixosBackend) -> None:
    await backend.create(spec_for(tmp_path))
    await backend.start("alpha")
    assert await backend.restarts() == {"alpha": 0}
    # systemd's restart comes 3 s later: long enough for the checks below on a loaded machine
    fake.crash("h-alpha", status=3, restart_after=3.0)
    assert await backend.running() == set()  # machinectl: not a running machine now
    fake.break_machinectl()
    assert await backend.running() == set()  # systemctl: activating/auto-restart
    lines = await backend.logs("alpha", 5)
    assert any("status=3/FAILURE" in line for line in lines)
    for _ in range(100):
        if await backend.running() == {"alpha"}:
            break
        await asyncio.sleep(0.1)
    assert await backend.running() == {"alpha"}  # back by itself
    fake.break_machinectl(False)
    assert await backend.running() == {"alpha"}
    # a poller that looked only before and after saw "running" both times; NRestarts tells
    assert await backend.restarts() == {"alpha": 1}
    assert ["systemctl", "show", "-p", "Id", "-p", "NRestarts",
            "container@h-alpha.service"] in fake.commands()


async def test_destroy_stops_and_removes_but_keeps_state(
        tmp_path: Path, fake: FakeNixos, backend: NixosBackend) -> None:
    spec = spec_for(tmp_path)
    spec.state_dir.mkdir(parents=True)
    (spec.state_dir / "notes").write_text("keep me")
    await backend.create(spec)
    await backend.start("alpha")
    fake.clear_commands()
    await backend.destroy("alpha")
    assert fake.commands() == [["nixos-container", "list"],
                               ["nixos-container", "destroy", "h-alpha"]]
    assert fake.container("h-alpha") is None
    assert await backend.running() == set()
    assert not (tmp_path / "flakes" / "alpha").exists()
    assert (spec.state_dir / "notes").read_text() == "keep me"
    await backend.destroy("alpha")  # already gone: nothing to do, no error


async def test_destroy_refusal_carries_stderr(fake: FakeNixos, backend: NixosBackend) -> None:
    fake.add_declarative("h-decl")
    with pytest.raises(ContainerError, match="cannot destroy declarative container"):
        await backend.destroy("decl")


async def test_rebuild_updates_in_place_and_restarts_for_new_binds(
        tmp_path: Path, fake: FakeNixos, backend: NixosBackend) -> None:
    await backend.create(spec_for(tmp_path))
    await backend.start("alpha")
    fake.clear_commands()
    await backend.rebuild(spec_for(tmp_path, model="claude-opus-4"))
    assert fake.commands() == [["nixos-container", "list"],
                               ["nixos-container", "update", "h-alpha", "--flake",
                                ref(tmp_path)]]
    assert "claude-opus-4" in (tmp_path / "flakes" / "alpha" / "flake.nix").read_text()
    # the agent's own agent.nix (an applied config commit) goes into the rebuilt container
    own = "{ pkgs, ... }:\n{ environment.systemPackages = [ pkgs.jq ]; }\n"
    await backend.rebuild(ContainerSpec(**{**spec_for(tmp_path).__dict__, "nix_module": own}))
    assert (tmp_path / "flakes" / "alpha" / "agent-config.nix").read_text() == own
    assert fake.commands()[-1] == ["nixos-container", "update", "h-alpha", "--flake",
                                   ref(tmp_path)]
    fake.clear_commands()
    shared = tmp_path / "shared"
    spec = spec_for(tmp_path)
    spec = ContainerSpec(**{**spec.__dict__, "extra_binds": (Bind(shared, "/shared"),)})
    await backend.rebuild(spec)
    assert fake.commands()[-2:] == [["machinectl", "list", "-o", "json", "--no-pager"],
                                    ["nixos-container", "restart", "h-alpha"]]
    assert f"--bind-ro={shared}:/shared:idmap" in (
        fake.state.conf_dir / "h-alpha.conf").read_text()


async def test_shell_argv_is_root_login(tmp_path: Path, fake: FakeNixos,
                                        backend: NixosBackend) -> None:
    await backend.create(spec_for(tmp_path))
    argv = backend.shell_argv("alpha")
    assert argv[1:] == ["root-login", "h-alpha"]
    assert subprocess.run(argv, capture_output=True).returncode == 1  # not running yet
    await backend.start("alpha")
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0 and "root shell" in done.stdout


async def test_command_failures_raise_with_stderr(tmp_path: Path, fake: FakeNixos,
                                                  backend: NixosBackend) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "flake.nix").write_text("{}")
    # the fake honours nixos-container's own name rules (agent names never break them)
    with pytest.raises(ContainerError, match="too long"):
        await backend._run("nixos-container", "create", "h-abcdefghij",
                           "--flake", f"path:{tmp_path}/f#x")
    with pytest.raises(ContainerError, match="underscore"):
        await backend._run("nixos-container", "create", "h-a_b", "--flake",
                           f"path:{tmp_path}/f#x")
    with pytest.raises(NameError_):
        await backend.create(spec_for(tmp_path, "Bad_Name"))
    with pytest.raises(ContainerError, match="does not exist"):
        await backend.start("ghost")
    missing = NixosBackend(tmp_path / "x", hivetui_flake=FLAKE,
                           nixos_container=str(tmp_path / "no-such-binary"))
    with pytest.raises(ContainerError, match="cannot run"):
        await missing.start("alpha")


def _gone(pid: int) -> bool:
    """No such process, or a zombie waiting for init (killed; not ours to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize("how", ["cancel", "timeout", "follow"])
def test_interrupted_command_leaves_no_process_or_open_pipe(
        tmp_path: Path, fake: FakeNixos, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A caller cancelled mid-command (crash_watch stopped during a poll), a timeout, or a
    cancelled log follower: the command and the child holding its pipes are killed, the
    pipes closed and the command reaped before the exception reaches the caller."""
    monkeypatch.setenv("FAKE_NIXOS_HANG", "journalctl" if how == "follow" else "machinectl")
    backend = NixosBackend(tmp_path / "flakes", hivetui_flake=FLAKE, **fake.backend_kwargs())

    async def hung() -> tuple[int, int]:
        deadline = time.monotonic() + 10
        while (pids := fake.hang_pids()) is None:
            assert time.monotonic() < deadline, "the fake never hung"
            await asyncio.sleep(0.02)
        return pids

    async def scenario() -> tuple[int, int]:
        if how == "timeout":
            began = time.monotonic()
            with pytest.raises(ContainerError, match="timed out"):
                await backend._run("machinectl", "list", timeout=1.5)
            # not held up by the child that still holds the pipes
            assert time.monotonic() - began < 4.5
            pids = fake.hang_pids()
            assert pids is not None
            return pids
        call = anext(backend.follow_logs("alpha")) if how == "follow" else backend.running()
        task = asyncio.ensure_future(call)
        pids = await hung()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pids

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pid, child = asyncio.run(scenario())
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped by the backend
    deadline = time.monotonic() + 5
    while not _gone(child):  # the grandchild is init's to reap
        assert time.monotonic() < deadline, f"pid {child} (held the pipes) still runs"
        time.sleep(0.02)
