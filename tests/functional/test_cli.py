"""The `hivetui` command line: common flags in any position, flags only where they act,
--version, completion, help, exit codes, JSON errors.

The flag matrix runs the real :func:`hivetui.cli.main` in-process with the one thing a
command finally does, ``asyncio.run(...)``, replaced by a recorder of the flags it would
run with: every command, every common flag, before and after the subcommand. The rest
runs real subprocesses against a real core (a control server over a hive, or a real
``hivetui serve``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from hivetui.cli import cli, main
from hivetui.cli_flags import Common, common, flag_name
from hivetui.control.protocol import to_jsonable
from hivetui.control.server import ControlServer
from hivetui.core.hive import Hive
from hivetui.core.operator import Operator, OperatorSession
from hivetui.core.paths import StatePaths
from hivetui.ctl import ctl
from tests.serve_util import serve, stderr_tail, stop, wait_serving

ROOT = Path(__file__).resolve().parents[2]
CORE = {"state_dir", "config", "backend", "socket", "verbose"}
CLIENT = {"state_dir", "config", "socket", "verbose", "json", "timeout"}
#: what each command is documented to take (README, "Common flags")
TAKES: dict[tuple[str, ...], set[str]] = {
    ("demo",): {"state_dir", "config", "backend", "verbose"},
    ("serve",): CORE,
    ("attach",): {"state_dir", "config", "socket", "verbose", "timeout"},
    ("completion", "bash"): set(),
}
CTL_ARGS: dict[str, tuple[str, ...]] = {
    "agents": (), "agent": ("bob",), "spawn": ("bob",), "start": ("bob",),
    "stop": ("bob",), "restart": ("bob",), "destroy": ("bob",), "rebuild": ("bob",),
    "send": ("bob", "hi"), "inbox": ("bob",), "approvals": (), "approve": ("1",),
    "deny": ("1", "--reason", "no"), "questions": (), "answer": ("1", "yes"),
    "model": ("bob", "m"), "stats": ("bob",), "events": (), "logs": ("bob",), "kept": (),
    "drafts": (), "revive": ("bob",), "purge": ("bob", "--yes"), "audit": (),
}
TAKES.update({("ctl", name, *args): CLIENT for name, args in CTL_ARGS.items()})


def flag_values(tmp: Path) -> dict[str, tuple[list[str], Any]]:
    """Each common flag: its words on the line and the value it must arrive as."""
    config = tmp / "config.toml"
    config.write_text("")
    return {"state_dir": (["--state-dir", str(tmp / "s")], tmp / "s"),
            "config": (["--config", str(config)], config),
            "backend": (["--backend", "nixos"], "nixos"),
            "socket": (["--socket", str(tmp / "x.sock")], tmp / "x.sock"),
            "verbose": (["-v"], True), "json": (["--json"], True),
            "timeout": (["--timeout", "7"], 7.0)}


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Common]]:
    """The flags each command ran with; the command itself does not run."""
    seen: list[Common] = []

    def record(coro: Any, **_: Any) -> int:
        coro.close()
        seen.append(dataclasses.replace(common(click.get_current_context())))
        return 0

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(asyncio, "run", record)
    yield seen
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_documented_matrix_names_every_command() -> None:
    assert set(CTL_ARGS) == set(ctl.commands)
    assert {c for c, cmd in cli.commands.items() if not cmd.hidden} == \
        {path[0] for path in TAKES}


@pytest.mark.parametrize("command", list(TAKES), ids=" ".join)
def test_every_common_flag_acts_before_and_after_the_subcommand(
        command: tuple[str, ...], ran: list[Common], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    values = flag_values(tmp_path)
    group, rest = command[:1], list(command[1:])
    for name, (words, value) in values.items():
        if name not in TAKES[command]:
            continue
        lines = [[*words, *command], [*command, *words]]
        if command[0] == "ctl":  # between `ctl` and its subcommand too
            lines.append([*group, *words, *rest])
        for argv in lines:
            ran.clear()
            assert main(argv) == 0, (argv, capsys.readouterr().err)
            assert [getattr(flags, name) for flags in ran] == [value], argv


@pytest.mark.parametrize("command", list(TAKES), ids=" ".join)
def test_a_common_flag_is_refused_where_it_does_not_act(
        command: tuple[str, ...], ran: list[Common], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name, (words, _value) in flag_values(tmp_path).items():
        if name in TAKES[command]:
            continue
        assert main([*words, *command]) == 2
        err = capsys.readouterr().err
        assert f"{flag_name(name)} does not apply to `hivetui {command[0]}`" in err, err
        assert main([*command, *words]) == 2
        assert f"No such option '{words[0]}'" in capsys.readouterr().err
        assert ran == []


def test_the_embedded_tui_takes_the_core_flags_only(ran: list[Common], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    for name, (words, value) in flag_values(tmp_path).items():
        ran.clear()
        if name in CORE:
            assert main(words) == 0
            assert [getattr(flags, name) for flags in ran] == [value]
        else:
            assert main(words) == 2 and ran == []
            assert f"{flag_name(name)} does not apply to `hivetui`" in \
                capsys.readouterr().err


def test_the_flag_given_last_wins(ran: list[Common], tmp_path: Path) -> None:
    assert main(["--state-dir", str(tmp_path / "a"), "ctl", "--state-dir",
                 str(tmp_path / "b"), "agents"]) == 0
    assert main(["--socket", str(tmp_path / "a"), "ctl", "agents", "--socket",
                 str(tmp_path / "c")]) == 0
    assert [ran[0].state_dir, ran[1].socket] == [tmp_path / "b", tmp_path / "c"]


def test_a_bad_timeout_is_a_usage_error_in_any_position(
        ran: list[Common], capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--timeout", "0", "ctl", "agents"], ["ctl", "agents", "--timeout", "nan"],
                 ["attach", "--timeout", "90000"]):
        assert main(argv) == 2, argv
        assert "Invalid value for '--timeout'" in capsys.readouterr().err
    assert ran == []


def run(*argv: str, env: dict[str, str] | None = None, timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "hivetui", *argv], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def test_version_is_the_pyproject_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = run("--version")
    assert (done.returncode, done.stdout) == (0, f"hivetui {version}\n")


def test_every_command_has_a_description_and_an_example(
        capsys: pytest.CaptureFixture[str]) -> None:
    commands = [(name,) for name in cli.commands] + [("ctl", name) for name in ctl.commands]
    for path in commands:
        assert main([*path, "--help"]) == 0
        text = capsys.readouterr().out
        usage, _, description = text.split("\n", 2)
        assert usage.startswith(f"Usage: hivetui {' '.join(path)} ")
        assert description.strip().split("\n")[0].endswith("."), (path, text)
        example = text.split("Example:\n", 1)[1].split("\n", 1)[0]
        assert example.strip().startswith(f"hivetui {path[0]}"), (path, text)
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert "harness" not in listed and "  ctl " in listed
    for variable in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "NO_COLOR", "HIVETUI_FLAKE",
                     "HIVETUI_SESSION_TOKEN", "ANTHROPIC_API_KEY"):
        assert variable in listed


def test_completion_scripts_complete_commands(tmp_path: Path) -> None:
    """bash runs the script for real; zsh and fish (not installed here) get their script
    and the answers their script asks the program for."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    script = tmp_path / "hivetui.bash"
    script.write_text(run("completion", "bash").stdout)
    done = subprocess.run(
        ["bash", "-c", f'source {script}; COMP_WORDS=(hivetui ctl ag); COMP_CWORD=2; '
         '_hivetui_completion hivetui; printf "%s\\n" "${COMPREPLY[@]}"'],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PATH": path})
    assert done.stdout.split() == ["agent", "agents"], done.stderr
    assert run("completion", "zsh").stdout.startswith("#compdef hivetui")
    assert "complete --no-files --command hivetui" in run("completion", "fish").stdout
    zsh = run(env={"_HIVETUI_COMPLETE": "zsh_complete", "COMP_WORDS": "hivetui de",
                   "COMP_CWORD": "1"})
    assert zsh.stdout.split("\n")[:2] == ["plain", "demo"], zsh.stdout
    fish = run(env={"_HIVETUI_COMPLETE": "fish_complete", "COMP_WORDS": "hivetui ser",
                    "COMP_CWORD": "ser"})
    assert fish.stdout.startswith("plain,serve"), fish.stdout
    bad = run("completion", "tcsh")
    assert bad.returncode == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in bad.stderr


@pytest.fixture
async def control(hive: Hive) -> ControlServer:
    server = ControlServer(hive)
    hive.add_service("control", server.run)
    await server.ready()
    await hive.registry.create("alice", runtime="scripted:echo", model="m")
    return server


async def test_flags_before_ctl_reach_it(control: ControlServer, hive: Hive, tmp_path: Path
                                         ) -> None:
    """The live bug: `hivetui --state-dir X ctl agents` read the default state directory,
    `hivetui ctl --json agents` printed a table."""
    env = {"XDG_STATE_HOME": str(tmp_path / "elsewhere")}
    state = str(hive.paths.root)
    for argv in (["--state-dir", state, "ctl", "agents", "--json"],
                 ["ctl", "--json", "--state-dir", state, "agents"],
                 ["--json", "ctl", "agents", "--state-dir", state]):
        done = await asyncio.to_thread(run, *argv, env=env)
        assert done.returncode == 0, (argv, done.stderr)
        assert [a["name"] for a in json.loads(done.stdout)] == ["alice"], argv


async def test_ctl_agent_prints_one_agents_record(control: ControlServer, hive: Hive
                                                  ) -> None:
    state = str(hive.paths.root)
    done = await asyncio.to_thread(run, "ctl", "agent", "alice", "--json", "--state-dir",
                                   state)
    assert done.returncode == 0, done.stderr
    view = await OperatorSession(hive, Operator.local()).agent("alice")
    assert json.loads(done.stdout) == json.loads(json.dumps(to_jsonable(view)))
    human = await asyncio.to_thread(run, "ctl", "agent", "alice", "--state-dir", state)
    lines = human.stdout.splitlines()
    assert "name: alice" in lines and "runtime: scripted:echo" in lines
    assert any(line.startswith("created_at: ") and line.endswith(" ago)") for line in lines)


async def test_errors_are_one_json_object_on_stderr_with_json(
        control: ControlServer, hive: Hive) -> None:
    state = str(hive.paths.root)
    refused = await asyncio.to_thread(run, "--json", "ctl", "agent", "nobody",
                                      "--state-dir", state)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert json.loads(refused.stderr) == {
        "error": "Not found", "message": "no agent named 'nobody'", "exit_code": 1}
    usage = await asyncio.to_thread(run, "ctl", "agents", "--json", "--nope")
    assert usage.returncode == 2
    assert json.loads(usage.stderr) == {
        "error": "Usage error", "message": "No such option '--nope'.", "exit_code": 2}
    plain = await asyncio.to_thread(run, "ctl", "agent", "nobody", "--state-dir", state)
    assert plain.returncode == 1
    assert plain.stderr == "hivetui ctl: Not found: no agent named 'nobody'\n"


def test_a_usage_error_shows_what_was_typed_bounded_and_inert(
        capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ctl", "agents", "--\x1b]2;pwned\x07"], ["ctl", "agents", "\x1b]2;pwned\x07"],
                 ["ctl", "agents", "x" * 100_000]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "\x1b" not in err and "\x07" not in err and len(err) < 1000, err
        assert err.startswith("Usage: hivetui ctl agents [OPTIONS]\n"), err


def test_config_before_attach_is_read(tmp_path: Path) -> None:
    """The live bug: `hivetui --config /nonexistent attach` raised no error."""
    missing = tmp_path / "nonexistent.toml"
    done = run("--config", str(missing), "attach", "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == f"hivetui: Configuration error: config file {missing} does not exist\n"


async def test_ctl_events_prints_recent_events_and_exits(control: ControlServer, hive: Hive
                                                         ) -> None:
    for i in range(3):
        await hive.bus.send("alice", "operator", f"note {i}")
    state = str(hive.paths.root)
    done = await asyncio.to_thread(run, "ctl", "events", "--json", "--limit", "2",
                                   "--state-dir", state, timeout=30)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["body"] for line in done.stdout.splitlines()] == \
        ["note 1", "note 2"]
    human = await asyncio.to_thread(run, "ctl", "events", "--state-dir", state, timeout=30)
    kinds = [line.split(" ", 2)[1] for line in human.stdout.splitlines()]
    assert kinds == ["agent_changed", "message", "message", "message"]  # alice's creation
    assert "body=note 0" in human.stdout
    both = await asyncio.to_thread(run, "ctl", "events", "--follow", "--limit", "2")
    assert both.returncode == 2 and "--limit counts recent events" in both.stderr


async def test_ctl_events_follow_ends_130_on_sigint(control: ControlServer, hive: Hive
                                                    ) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hivetui", "ctl", "events", "--follow", "--json",
         "--state-dir", str(hive.paths.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = ""
        for _ in range(100):  # until its stream is open: it prints the send's event
            await hive.bus.send("alice", "operator", "ping")
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
            if line:
                break
        assert json.loads(line)["event"]
        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
async def test_verbose_before_serve_and_sigint_ends_it_with_130(tmp_path: Path) -> None:
    """The live bug: `hivetui -v serve` was not verbose."""
    state = tmp_path / "state"
    proc = serve(state, flags=("-v",))
    try:
        await wait_serving(proc, state)
        assert stop(proc, signal.SIGINT) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert " DEBUG " in StatePaths(state).log_file.read_text()  # the core's log
    assert " DEBUG " in stderr_tail(state, 0)  # and, serve being in a terminal, stderr
