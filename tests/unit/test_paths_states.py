"""Agents' real state lives in states/<n>; the old layout (agents/<n>/state) is migrated."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hivetui.core import beneath
from hivetui.core.paths import StatePaths


def _agent(paths: StatePaths, name: str, *, applied: str | None, packed: bool = False,
           proposed: bool = True) -> Path:
    """An agent dir the old way: agents/<n>/state with a file, maybe a config repo and
    an applied ref (loose or packed) as ConfigRepos leaves them."""
    old = paths.agent_dir(name) / "state"
    old.mkdir(parents=True)
    (old / "notes.md").write_text(f"{name} notes\n")
    if proposed:
        (paths.agent_config(name) / ".git").mkdir(parents=True)
    if applied is not None:
        repo = paths.root / "repos" / f"{name}.git"
        if packed:
            repo.mkdir(parents=True)
            (repo / "packed-refs").write_text(f"# pack-refs\n{applied} refs/hive/applied\n")
        else:
            (repo / "refs" / "hive").mkdir(parents=True)
            (repo / "refs" / "hive" / "applied").write_text(applied + "\n")
    return old


def test_prepare_moves_old_state_out_of_agents_and_leaves_drafts(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path / "s")
    paths.agents.mkdir(parents=True)
    sha = "a" * 40
    spawned = _agent(paths, "w1", applied=sha)
    packed = _agent(paths, "w2", applied=sha, packed=True)
    no_repos = _agent(paths, "old", applied=None, proposed=False)
    draft = _agent(paths, "dora", applied=None)
    paths.prepare()
    assert oct(paths.states.stat().st_mode & 0o777) == "0o700"
    for name, old in (("w1", spawned), ("w2", packed), ("old", no_repos)):
        assert (paths.agent_state(name) / "notes.md").read_text() == f"{name} notes\n"
        assert old.is_dir() and list(old.iterdir()) == []  # the manager's mountpoint
    assert paths.is_draft_dir("dora") and not paths.agent_state("dora").exists()
    assert (draft / "notes.md").read_text() == "dora notes\n"
    # idempotent: a second prepare moves nothing, and never overwrites states/<n>
    (spawned / "planted").write_text("x")
    assert paths.migrate_states() == []
    assert not (paths.agent_state("w1") / "planted").exists()


def test_migration_ignores_a_symlinked_state(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path / "s")
    paths.agents.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths.agent_dir("w1").mkdir()
    (paths.agent_dir("w1") / "state").symlink_to(elsewhere)
    paths.prepare()
    assert not paths.agent_state("w1").exists() and elsewhere.is_dir()


def test_copy_plain_tree_copies_files_dirs_links_and_skips_the_rest(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "plan").mkdir(parents=True)
    (src / "notes.md").write_text("n\n")
    os.chmod(src / "notes.md", 0o640)
    (src / "plan" / "1.md").write_text("p\n")
    (src / "link").symlink_to("/etc/shadow")
    os.mkfifo(src / "pipe")
    beneath.copy_plain_tree(tmp_path, "src", tmp_path, "dst")
    assert (dst / "notes.md").read_text() == "n\n"
    assert oct((dst / "notes.md").stat().st_mode & 0o777) == "0o640"
    assert (dst / "plan" / "1.md").read_text() == "p\n"
    assert os.readlink(dst / "link") == "/etc/shadow"  # a link, not the file it names
    assert not (dst / "pipe").exists()
    assert sorted(p.name for p in dst.iterdir()) == ["link", "notes.md", "plan"]


def test_applied_ref_layout_matches_git(tmp_path: Path) -> None:
    """The draft test reads refs the way git writes them: a loose ref after update-ref,
    a line of packed-refs after pack-refs."""
    paths = StatePaths(tmp_path / "s")
    paths.agents.mkdir(parents=True)
    (paths.agent_config("w") / ".git").mkdir(parents=True)
    repo = paths.root / "repos" / "w.git"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, env=env,
                              capture_output=True, text=True).stdout.strip()

    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    assert paths.is_draft_dir("w")
    tree = git("mktree")
    sha = subprocess.run(["git", "-C", str(repo), "commit-tree", tree, "-m", "c"], check=True,
                         env=env, capture_output=True, text=True, input="").stdout.strip()
    git("update-ref", "refs/hive/applied", sha)
    assert not paths.is_draft_dir("w")
    git("pack-refs", "--all")
    assert not (repo / "refs" / "hive" / "applied").exists()
    assert not paths.is_draft_dir("w")
