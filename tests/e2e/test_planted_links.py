"""The manager plants links in its writable /agents (from inside its real local-backend
container) before, during and after approvals and across a core restart: the core never
follows them, and a sentinel host tree they point at is left exactly as it was.

Run as root (CI), the core is a root core (the container's uid owns agents/ then, as in
production), and the last test runs the others once more as an ordinary user."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from hivetui.core.config import HiveConfig
from hivetui.core.errors import HiveError
from hivetui.core.operator import Operator, OperatorSession
from hivetui.node import HiveNode
from tests.container_util import sh_in
from tests.ordinary_user import ROOT, as_user
from tests.sentinel import make_sentinel, snapshot

pytestmark = pytest.mark.slow


def _swap_for_link(name: str, target: Path) -> str:
    """Shell for the manager: put agents/<name> aside and a link to ``target`` there."""
    return f"mv /agents/{name} /agents/{name}.real && ln -s {target} /agents/{name}"


async def test_links_planted_around_drafts_and_approvals_are_never_followed(
        tmp_path: Path) -> None:
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    config = HiveConfig()
    config.harness.default_runtime = "scripted:echo"  # drafts' runtime: no claude needed
    async with HiveNode(tmp_path / "state", config) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        approvals = node.hive.approvals
        paths = node.paths
        try:
            await api.spawn("boss", "scripted:manager", manager=True)
            # before: a name the manager took with a link is not free
            await sh_in(node, "boss", f"ln -s {sentinel} /agents/early")
            with pytest.raises(HiveError, match="not free"):
                await approvals.request_spawn_draft("boss", "early")

            # during a draft's creation: agents/dx becomes a link right after its config
            # repo is made, before the core makes its notes area and hands it over
            create = approvals.repos.create

            async def create_then_swap(name: str, *args: Any, **kwargs: Any) -> str:
                sha = await create(name, *args, **kwargs)
                await sh_in(node, "boss", _swap_for_link(name, sentinel))
                return sha

            approvals.repos.create = create_then_swap  # type: ignore[method-assign]
            with pytest.raises(HiveError, match="not a plain directory"):
                await approvals.request_spawn_draft("boss", "dx")
            approvals.repos.create = create  # type: ignore[method-assign]

            # during a spawn_commit approval: agents/dy becomes a link once the worker
            # runs, before the core empties the draft's notes area
            draft = await approvals.request_spawn_draft("boss", "dy")
            await sh_in(node, "boss", "echo notes > /agents/dy/state/notes.md && "
                                      f"ln -s {sentinel} /agents/dy/state/escape")
            request = await approvals.request_spawn_commit("boss", "dy", draft.head)
            lifecycle = node.hive.lifecycle
            assert lifecycle is not None
            start = lifecycle.start

            async def start_then_swap(name: str) -> Any:
                # the approval's last file step (emptying the draft area) comes after this
                result = await start(name)
                if name == "dy":
                    await sh_in(node, "boss", _swap_for_link(name, sentinel))
                return result

            lifecycle.start = start_then_swap  # type: ignore[method-assign]
            done = await approvals.approve(request.id, "tester")
            lifecycle.start = start  # type: ignore[method-assign]
            assert done.state == "approved"
            assert (paths.agent_state("dy") / "notes.md").read_text() == "notes\n"
            assert os.readlink(paths.agent_state("dy") / "escape") == str(sentinel)
            assert not paths.agent_dir("dy").is_symlink()
            assert list(paths.agent_draft_state("dy").iterdir()) == []
        finally:
            await node.stop_all()
    assert snapshot(sentinel) == before


async def test_links_planted_before_a_core_restart_are_never_followed(
        tmp_path: Path) -> None:
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    state_dir = tmp_path / "state"
    async with HiveNode(state_dir, HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        try:
            await api.spawn("w1", "scripted:echo")
            await api.spawn("boss", "scripted:manager", manager=True)
            # w1's notes mountpoint now leads to a host dir holding a *file* named state;
            # "zz" looks like an agent laid out the old way (a state dir to migrate)
            await sh_in(node, "boss", _swap_for_link("w1", sentinel / "filedir") +
                        f" && ln -s {sentinel} /agents/zz")
        finally:
            await node.stop_all()
    async with HiveNode(state_dir, HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        try:
            assert not node.paths.agent_state("zz").exists()
            await api.start("boss")  # its view of w1 is rebuilt over agents/w1/state
            out = await sh_in(node, "boss", "ls -A /agents/w1/state")
            assert "keep.txt" not in out and "state" not in out.replace("DONE", ""), out
            assert not node.paths.agent_dir("w1").is_symlink()
        finally:
            await node.stop_all()
    assert snapshot(sentinel) == before


async def test_links_an_agent_plants_in_its_state_are_not_followed_by_a_persisted_model(
        tmp_path: Path) -> None:
    """The core writes /state/model for `set_model --persist`: a worker that planted links
    at that name and at its temporary name gets a plain file, and no host file changes."""
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    target = sentinel / "filedir" / "state"
    async with HiveNode(tmp_path / "state", HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        try:
            await api.spawn("w1", "scripted:echo")
            await sh_in(node, "w1", f"ln -s {target} /state/model.tmp && "
                                    f"ln -s {target} /state/model")
            await api.set_model("w1", "claude-opus-4", persist=True)
            model = node.paths.agent_state("w1") / "model"
            assert not model.is_symlink() and model.read_text() == "claude-opus-4\n"
        finally:
            await node.stop_all()
    assert snapshot(sentinel) == before


async def test_a_gitfile_planted_in_a_proposed_repo_reaches_no_host_repo(
        tmp_path: Path) -> None:
    """The manager turns its draft's .git into a gitfile naming a host repo it cannot read
    (or adds that repo's objects as alternates) and asks for that repo's commit: the core's
    git does not fetch it."""
    secret = tmp_path / "secret"
    env = {**os.environ, "GIT_AUTHOR_NAME": "h", "GIT_AUTHOR_EMAIL": "h@h",
           "GIT_COMMITTER_NAME": "h", "GIT_COMMITTER_EMAIL": "h@h"}
    subprocess.run(["git", "init", "-q", str(secret)], check=True)
    (secret / "settings.toml").write_text("# the host's secret\n")
    subprocess.run(["git", "-C", str(secret), "add", "."], check=True)
    subprocess.run(["git", "-C", str(secret), "commit", "-qm", "secret"], check=True, env=env)
    sha = subprocess.run(["git", "-C", str(secret), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True).stdout.strip()
    os.chmod(secret, 0o700)
    async with HiveNode(tmp_path / "state", HiveConfig()) as node:
        api = OperatorSession(node.hive, Operator("tester"))
        approvals = node.hive.approvals
        try:
            await api.spawn("boss", "scripted:manager", manager=True)
            await approvals.request_spawn_draft("boss", "dz")
            await sh_in(node, "boss", "cd /agents/dz/config && rm -rf .git && "
                                      f"echo 'gitdir: {secret}/.git' > .git")
            with pytest.raises(HiveError, match="not a plain git directory"):
                await approvals.request_spawn_commit("boss", "dz", sha)
            # the same through an alternates file and a branch naming the host's commit
            await approvals.request_spawn_draft("boss", "da")
            await sh_in(node, "boss", (
                "cd /agents/da/config/.git && "
                f"echo {secret}/.git/objects > objects/info/alternates && "
                f"echo {sha} > refs/heads/leak"))
            with pytest.raises(HiveError, match="no commit"):
                await approvals.request_spawn_commit("boss", "da", "leak")
            for name in ("dz", "da"):
                found = subprocess.run(["git", "-C", str(approvals.repos.applied_dir(name)),
                                        "cat-file", "-e", sha], capture_output=True)
                assert found.returncode != 0, f"the host repo's commit reached {name}"
        finally:
            await node.stop_all()


def test_the_same_with_an_ordinary_users_core(ordinary_user: pwd.struct_passwd,
                                              user_python: str) -> None:
    """The tests above (and beneath's) once more, run by an ordinary user: a non-root core,
    whose containers' root is that user outside."""
    basetemp = Path(tempfile.mkdtemp(prefix="hivetui-user-pytest-"))
    try:
        os.chown(basetemp, ordinary_user.pw_uid, ordinary_user.pw_gid)
        done = subprocess.run(
            [*as_user(ordinary_user), user_python, "-m", "pytest", "-q", "-p",
             "no:cacheprovider", f"--basetemp={basetemp}/t", "-k", "not ordinary_user",
             __file__, str(ROOT / "tests" / "unit" / "test_beneath.py")],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                 "HOME": ordinary_user.pw_dir, "LANG": "C.UTF-8"})
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert summary.startswith("9 passed") and "skipped" not in summary, summary
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)
