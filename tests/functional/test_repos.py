"""Config repos with real git: proposed working copy, hive-owned applied repo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hivetui.core.errors import RepoError
from hivetui.core.lifecycle import Lifecycle
from hivetui.core.paths import StatePaths
from hivetui.core.repos import APPLIED_REF, ConfigRepos, check_commit_name, default_files
from hivetui.core.settings import AgentSettings
from tests.functional.test_approvals_fakes import commit_change, manager_git, open_hive, set_model


@pytest.fixture
def repos(tmp_path: Path) -> ConfigRepos:
    paths = StatePaths(tmp_path / "state")
    paths.prepare()
    return ConfigRepos(paths)


async def test_create_makes_a_working_copy_the_manager_can_commit_in(repos: ConfigRepos
                                                                      ) -> None:
    files = default_files("ann", AgentSettings(runtime="scripted:echo", model="m1"))
    sha = await repos.create("ann", files, "first", apply=True)
    proposed = repos.proposed_dir("ann")
    assert {p: (proposed / p).read_text() for p in files} == files
    assert AgentSettings.from_toml(files["settings.toml"]).runtime == "scripted:echo"
    assert manager_git(proposed, "config", "--local", "user.email").strip()
    assert manager_git(proposed, "rev-parse", "HEAD").strip() == sha
    assert manager_git(proposed, "status", "--porcelain") == ""
    assert await repos.applied("ann") == sha
    # the applied repo is hive-owned: not under agents/ (which the manager's container sees)
    assert repos.paths.agents not in repos.applied_dir("ann").parents
    c = commit_change(proposed, {"prompt.md": "new\n"})
    assert await repos.import_commit("ann", c) == c
    assert await repos.applied("ann") == sha  # a fetch does not apply


async def test_applied_moves_only_by_compare_and_swap(repos: ConfigRepos) -> None:
    files = default_files("ann", AgentSettings())
    sha = await repos.create("ann", files, "first", apply=False)
    assert await repos.applied("ann") is None
    await repos.move_applied("ann", sha, None)
    with pytest.raises(RepoError, match="update-ref"):
        await repos.move_applied("ann", sha, None)  # expected absent, but it is there
    c = await repos.import_commit(
        "ann", commit_change(repos.proposed_dir("ann"), {"prompt.md": "x\n"}))
    with pytest.raises(RepoError):
        await repos.move_applied("ann", c, c)  # expected c, but applied is sha
    await repos.move_applied("ann", c, sha)
    assert await repos.applied("ann") == c
    # the manager moving refs in its own copy changes nothing the hive applies
    manager_git(repos.proposed_dir("ann"), "update-ref", APPLIED_REF, sha)
    assert await repos.applied("ann") == c


async def test_the_hive_never_runs_the_managers_hooks_or_config(repos: ConfigRepos,
                                                               tmp_path: Path) -> None:
    await repos.create("ann", default_files("ann", AgentSettings()), "first", apply=True)
    proposed = repos.proposed_dir("ann")
    marker = tmp_path / "pwned"
    script = f"#!/bin/sh\ntouch {marker}\n"
    hooks = proposed / ".git" / "hooks"
    for hook in ("post-checkout", "reference-transaction", "pre-auto-gc", "post-merge",
                 "fsmonitor-watchman"):
        (hooks / hook).write_text(script)
        os.chmod(hooks / hook, 0o755)
    evil = tmp_path / "evil.sh"
    evil.write_text(script)
    os.chmod(evil, 0o755)
    (proposed / ".gitattributes").write_text("* diff=evil filter=evil\n")
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": "/dev/null"}
    for args in (["add", "-A"], ["-c", "user.name=m", "-c", "user.email=m@x", "commit",
                                 "-qm", "attributes"]):
        subprocess.run(["git", "-C", str(proposed), "-c", "core.hooksPath=/dev/null", *args],
                       env=env, check=True)
    # then the manager points every hook-like key of its repo config at the script
    for key in ("core.fsmonitor", "core.pager", "uploadpack.packObjectsHook", "diff.external",
                "diff.evil.textconv", "filter.evil.clean", "filter.evil.smudge",
                "core.sshCommand", "core.alternateRefsCommand"):
        manager_git(proposed, "config", key, str(evil))
    marker.unlink(missing_ok=True)
    sha = await repos.import_commit("ann", "main")
    await repos.import_commit("ann", sha)
    diff = await repos.diff("ann", await repos.applied("ann"), sha)
    assert "+* diff=evil filter=evil" in diff
    assert await repos.proposed_head("ann") == sha
    assert not marker.exists()


async def test_create_refuses_a_directory_the_manager_planted(repos: ConfigRepos) -> None:
    planted = repos.proposed_dir("bob")
    (planted / ".git").mkdir(parents=True)
    with pytest.raises(RepoError, match="exists already"):
        await repos.create("bob", default_files("bob", AgentSettings()), "x", apply=True)


async def test_ensure_is_idempotent_and_keeps_an_applied_config(repos: ConfigRepos) -> None:
    await repos.ensure("ann", AgentSettings(model="m1"))
    first = await repos.applied("ann")
    assert first is not None
    await repos.ensure("ann", AgentSettings(model="m2"))
    assert await repos.applied("ann") == first
    assert AgentSettings.from_toml(await repos.applied_file("ann", "settings.toml") or ""
                                   ).model == "m1"


def test_commit_names_that_could_be_options_are_refused() -> None:
    for bad in ("-n", "--output=/etc/x", "a..b", "x y", "", "a" * 101, "HEAD@{1}", 7):
        with pytest.raises(RepoError, match="invalid commit"):
            check_commit_name(bad)
    for good in ("HEAD", "main", "feature/x", "0123abcd", "a" * 40):
        assert check_commit_name(good) == good


async def test_lifecycle_builds_from_the_applied_commit_not_the_working_copy(
        tmp_path: Path) -> None:
    hive, backend = await open_hive(tmp_path / "state", manager=False)
    try:
        lifecycle = hive.lifecycle
        assert isinstance(lifecycle, Lifecycle)
        await lifecycle.spawn("ann", runtime="scripted:echo", model="model-a")
        assert backend.specs["ann"].settings.model == "model-a"
        config = hive.paths.agent_config("ann")
        text = (config / "settings.toml").read_text()
        # edited and even committed in the proposed copy, but not approved
        commit_change(config, {"settings.toml": set_model(text, "model-x")})
        (config / "settings.toml").write_text(set_model(text, "model-y"))
        await lifecycle.rebuild("ann")
        assert backend.specs["ann"].settings.model == "model-a"
        agent = hive.registry.get("ann")
        assert (await lifecycle.settings_for(agent)).model == "model-a"
    finally:
        await hive.aclose()
