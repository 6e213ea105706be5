"""Every .nix file in the repository, and rendered agent flakes, parse with nix-instantiate."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hivetui.containers.nix_render import write_agent_flake
from hivetui.core.ports import Bind
from hivetui.core.settings import AgentSettings, McpServerSpec
from tests.unit.test_nix_support import REPO, nix_instantiate, nix_parse


def _repo_nix_files() -> list[Path]:
    """The .nix files git knows of (tracked or new), so a stray .venv never counts."""
    out = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard",
         "*.nix"], capture_output=True, text=True, check=True).stdout
    return sorted(REPO / line for line in out.splitlines() if (REPO / line).is_file())


NIX_FILES = _repo_nix_files()


def test_the_nix_files_are_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in NIX_FILES}
    assert {"nix/flake.nix", "nix/module.nix", "nix/agent.nix", "nix/package.nix"} <= names


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_nix_file_parses(path: Path) -> None:
    proc = nix_parse(path)
    assert proc.returncode == 0, f"{path} does not parse:\n{proc.stderr}"


def test_a_syntax_error_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nix"
    bad.write_text("{ a = 1; b = ; }\n")
    proc = nix_parse(bad)
    assert proc.returncode != 0
    assert "syntax error" in proc.stderr


@pytest.mark.parametrize("private_users", [True, False])
def test_rendered_flake_dir_parses(tmp_path: Path, private_users: bool) -> None:
    nix_instantiate()
    settings = AgentSettings(
        model="claude-opus-4-1",
        allowed_tools=("Read", "Bash(git *)", 'Bash(echo "${HOME}" \\ $$)'),
        extra_mcp_servers=(McpServerSpec(name="fs", command="mcp-fs", args=("--root", "/state"),
                                         env={"K": "v"}),),
        private_users=private_users, packages=("ripgrep",))
    write_agent_flake(tmp_path / "flake", "alice", settings,
                      state_dir=tmp_path / "state", run_dir=tmp_path / "run",
                      hivetui_flake="path:/nix/store/abc-source?dir=nix",
                      extra_binds=(Bind(tmp_path / "agents", "/agents", writable=True),))
    for name in ("flake.nix", "agent.nix"):
        proc = nix_parse(tmp_path / "flake" / name)
        assert proc.returncode == 0, f"rendered {name} does not parse:\n{proc.stderr}"


def test_missing_nix_fails_in_ci_and_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install nix-bin"):
        nix_instantiate()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="nix-bin"):
        nix_instantiate()
