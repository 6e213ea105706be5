"""rootfs: which host paths a local container gets (the system, the hive's install)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hivetui.containers import rootfs


def test_install_is_the_venv_its_packages_and_the_package_dir_never_the_checkout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / "checkout" / ".venv"
    site = venv / "lib" / "python3" / "site-packages"
    extra = tmp_path / "pth-added"
    for d in (site, extra):
        d.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setattr(sys, "exec_prefix", str(venv))
    package = rootfs.hivetui_package_dir()
    checkout = os.path.dirname(package)
    monkeypatch.setattr(sys, "path", ["", str(site), str(extra), checkout, "/"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    chosen = rootfs.install_paths()
    assert str(venv) in chosen and str(extra) in chosen
    assert str(site) not in chosen  # below the venv, bound with it
    assert any(package == c or package.startswith(c + "/") for c in chosen)
    assert checkout not in chosen and "/" not in chosen
    assert not [c for c in chosen if c == "/usr" or c.startswith("/usr/")]


def test_a_home_or_a_top_level_dir_is_never_handed_over(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    home = os.path.expanduser("~")
    monkeypatch.setattr(sys, "path", ["", home, "/opt", "/srv"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    chosen = rootfs.install_paths()
    assert home not in chosen and "/opt" not in chosen and "/srv" not in chosen
    assert "more than the hive's install" in caplog.text


def test_the_system_is_usr_lib_bin_and_only_the_kept_parts_of_etc() -> None:
    paths = {e.path for e in rootfs.system_entries()}
    assert "/usr" in paths and "/etc/passwd" in paths
    assert not {"/etc/shadow", "/etc/ssh", "/etc/sudoers", "/home", "/root", "/var", "/run",
                "/tmp"} & paths


def test_claude_is_named_by_the_harnesss_variable_and_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hivetui.harness.claude import CLAUDE_BIN_ENV

    assert rootfs.CLAUDE_BIN_ENV == CLAUDE_BIN_ENV
    versions = tmp_path / "share" / "claude" / "versions"
    versions.mkdir(parents=True)
    (versions / "2.0").write_text("#!/bin/sh\n")
    os.chmod(versions / "2.0", 0o755)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "claude").symlink_to(versions / "2.0")
    monkeypatch.setenv(CLAUDE_BIN_ENV, str(tmp_path / "bin" / "claude"))
    chosen = rootfs.install_paths()
    assert str(versions) in chosen and str(tmp_path / "bin" / "claude") in chosen
