"""The core finds ``claude`` ([claude] bin) and passes it into containers; a missing one is
refused at spawn or start, naming where it looked; an unreachable hivetui install is refused
rather than started with a python that cannot import it."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hivetui.containers.install_reach import check_install_reachable
from hivetui.containers.local_plan import SandboxPlanner
from hivetui.core.config import HiveConfig
from hivetui.core.errors import ContainerError, HarnessError
from hivetui.core.hive import Hive
from hivetui.core.ports import ContainerSpec
from hivetui.core.runtimes import CLAUDE_BIN_ENV, resolve_claude_bin
from hivetui.core.settings import AgentSettings
from hivetui.harness.main import make_runtime
from hivetui.harness.runtime import AgentIdentity
from tests.fakes.memory_backend import FakeMemoryBackend


def _program(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_resolve_claude_on_path_or_as_a_path(tmp_path: Path) -> None:
    real = _program(tmp_path / "pkg" / "claude.exe")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "claude").symlink_to(real)  # as npm's node_modules/.bin does
    assert resolve_claude_bin("claude", str(tmp_path / "bin")) == str(real)
    assert resolve_claude_bin(str(tmp_path / "bin" / "claude"), "") == str(real)
    with pytest.raises(ContainerError, match=r"'claude' is not on the core's PATH \(/nowhere\)"):
        resolve_claude_bin("claude", "/nowhere")
    with pytest.raises(ContainerError, match=r"no executable program at /opt/none/claude "
                                             r"\(\[claude\] bin in config.toml\)"):
        resolve_claude_bin("/opt/none/claude")
    with pytest.raises(ContainerError, match="empty"):
        resolve_claude_bin("  ")


async def test_spawn_and_start_refuse_a_missing_claude_and_pass_the_found_one(
        tmp_path: Path) -> None:
    config = HiveConfig()
    config.claude.bin = str(tmp_path / "missing" / "claude")
    backend = FakeMemoryBackend()
    async with Hive(tmp_path / "state", config, backend) as hive:
        assert hive.lifecycle is not None
        with pytest.raises(ContainerError, match=f"no executable program at {tmp_path}/missing"):
            await hive.lifecycle.spawn("ann", runtime="claude", model="m")
        assert hive.registry.find("ann") is None and not backend.specs  # nothing made

        claude = _program(tmp_path / "opt" / "claude")
        hive.lifecycle.claude_bin = str(claude)
        await hive.lifecycle.spawn("ann", runtime="claude", model="m", start=False)
        spec = backend.specs["ann"]
        assert spec.claude_bin == str(claude) and spec.env[CLAUDE_BIN_ENV] == str(claude)

        claude.unlink()  # gone since: the start is refused, not a turn failure later
        with pytest.raises(ContainerError, match=f"no executable program at {claude}"):
            await hive.lifecycle.start("ann")
        assert "ann" not in backend.live
        # the scripted runtimes need no program
        await hive.lifecycle.spawn("bob", runtime="scripted:echo", model="m", start=False)
        assert backend.specs["bob"].claude_bin == ""
        assert CLAUDE_BIN_ENV not in backend.specs["bob"].env


async def test_a_backend_whose_containers_bring_claude_needs_none_on_the_host(
        tmp_path: Path) -> None:
    class OwnPrograms(FakeMemoryBackend):
        host_programs = False  # as the nixos backend: claude-code from the agent's closure

    config = HiveConfig()
    config.claude.bin = str(tmp_path / "missing" / "claude")
    async with Hive(tmp_path / "state", config, OwnPrograms()) as hive:
        assert hive.lifecycle is not None
        await hive.lifecycle.spawn("ann", runtime="claude", model="m", start=False)
        assert hive.lifecycle.backend.specs["ann"].claude_bin == ""  # type: ignore[attr-defined]


def test_the_harness_refuses_to_start_without_its_claude(tmp_path: Path) -> None:
    agent = AgentIdentity(name="ann", role="worker", runtime="claude", settings=AgentSettings())
    with pytest.raises(HarnessError, match=f"'{tmp_path}/none' is not an executable program"):
        make_runtime(agent, None, url="http://127.0.0.1:9/mcp",  # type: ignore[arg-type]
                     token="t", state_dir=tmp_path, claude_bin=str(tmp_path / "none"))


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every uid can traverse (pytest's own tmp dirs are private)."""
    path = Path(tempfile.mkdtemp(prefix="hivetui-reach-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in path.rglob("*"):
            if sub.is_dir():
                sub.chmod(0o755)
        shutil.rmtree(path)


def test_an_install_the_container_uid_cannot_reach_is_refused(open_dir: Path) -> None:
    private = open_dir / "home"
    (private / "venv" / "site-packages").mkdir(parents=True)
    private.chmod(0o700)
    public = open_dir / "opt"
    public.mkdir(mode=0o755)
    python = f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
    with pytest.raises(ContainerError, match=f"install at {private}/venv/site-packages is "
                                             "not reachable by the container uid 65534"):
        check_install_reachable(python, 65534, [str(public),
                                                str(private / "venv" / "site-packages")])
    check_install_reachable(python, 65534, [str(public)])
    with pytest.raises(ContainerError, match="python 2.7"):
        check_install_reachable("/usr/bin/python2.7", 65534, [])


def test_a_claude_under_tmp_is_bound_back_into_the_container(tmp_path: Path) -> None:
    claude = _program(tmp_path / "npm" / "claude")
    assert str(claude).startswith("/tmp/")  # where the sandbox mounts a fresh tmpfs
    planner = SandboxPlanner(tool="bwrap", paths={"bwrap": "bwrap", "setpriv": "setpriv"},
                             uid=None, gid=None, python=None, allow_unisolated=False)
    spec = ContainerSpec(name="ann", state_dir=tmp_path / "s", run_dir=tmp_path / "r",
                         log_file=tmp_path / "log", argv=("/bin/true",), claude_bin=str(claude))
    plan = planner.plan(spec, "bwrap")
    assert any(b.source == str(claude.parent) and b.target == str(claude.parent)
               and not b.writable for b in plan.binds)
