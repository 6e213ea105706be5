"""beneath: every operation below a trusted directory refuses or removes planted links
and leaves every file outside the tree untouched (a sentinel dir is snapshotted)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from hivetui.core import beneath
from hivetui.core.beneath import PlantedLinkError
from tests.sentinel import make_sentinel, snapshot


@pytest.fixture
def top(tmp_path: Path) -> Path:
    (tmp_path / "agents").mkdir()
    return tmp_path / "agents"


def _plant_dir_link(top: Path, sentinel: Path) -> None:
    (top / "dx").symlink_to(sentinel)


def test_a_link_on_the_way_is_refused_by_every_operation(top: Path, tmp_path: Path) -> None:
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    _plant_dir_link(top, sentinel)
    (tmp_path / "states").mkdir()
    with pytest.raises(PlantedLinkError, match="not a plain directory"):
        beneath.remove(top, "dx/state")
    with pytest.raises(PlantedLinkError):
        beneath.make_dirs(top, "dx/state/new")
    with pytest.raises(PlantedLinkError):
        beneath.copy_plain_tree(top, "dx/state", tmp_path / "states", "dx")
    with pytest.raises(PlantedLinkError):
        beneath.rename(top, "dx/state", tmp_path / "states", "dx")
    with pytest.raises(PlantedLinkError):
        beneath.chown_tree(top, "dx/state", 1234, 1234)
    assert beneath.lstat(top, "dx/state") is None and not beneath.is_plain_dir(top, "dx")
    assert snapshot(sentinel) == before
    assert not (tmp_path / "states" / "dx").exists()


def test_a_link_as_the_object_is_removed_itself(top: Path, tmp_path: Path) -> None:
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    _plant_dir_link(top, sentinel)
    (top / "w1").mkdir()
    (top / "w1" / "state").symlink_to(sentinel / "state" / "keep.txt")
    beneath.remove(top, "dx")
    beneath.empty_dir(top, "w1/state")
    assert not os.path.lexists(top / "dx")
    assert (top / "w1" / "state").is_dir() and not (top / "w1" / "state").is_symlink()
    # a link on the way of empty_dir / ensure_plain_dir is replaced by a plain directory
    _plant_dir_link(top, sentinel)
    beneath.empty_dir(top, "dx/state")
    (top / "w2").symlink_to(sentinel / "state")
    beneath.ensure_plain_dir(top, "w2/state")
    assert not (top / "dx").is_symlink() and list((top / "dx" / "state").iterdir()) == []
    assert not (top / "w2").is_symlink() and (top / "w2" / "state").is_dir()
    assert snapshot(sentinel) == before


def test_links_inside_a_tree_are_copied_and_chowned_as_links(top: Path,
                                                             tmp_path: Path) -> None:
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    notes = top / "dx" / "state"
    (notes / "plan").mkdir(parents=True)
    (notes / "plan" / "1.md").write_text("lexer\n")
    (notes / "to-dir").symlink_to(sentinel)
    (notes / "plan" / "to-file").symlink_to(sentinel / "state" / "keep.txt")
    (tmp_path / "states").mkdir()
    beneath.copy_plain_tree(top, "dx/state", tmp_path / "states", "dx")
    copied = tmp_path / "states" / "dx"
    assert (copied / "plan" / "1.md").read_text() == "lexer\n"
    assert os.readlink(copied / "to-dir") == str(sentinel)
    if os.geteuid() == 0:
        beneath.chown_tree(top, "dx", 4321, 4321)
        assert (notes / "plan" / "1.md").stat().st_uid == 4321
        assert os.lstat(notes / "to-dir").st_uid == 4321
    beneath.remove(top, "dx")
    beneath.remove(tmp_path / "states", "dx")
    assert not (top / "dx").exists() and not copied.exists()
    assert snapshot(sentinel) == before


def test_a_link_swapped_in_while_the_core_works_is_never_followed(top: Path,
                                                                  tmp_path: Path) -> None:
    """The manager flips agents/dx between a plain directory and a link to the sentinel as
    fast as it can while the core empties agents/dx/state and owns agents/dx over and
    over (what an approval and a draft do): the sentinel is never touched."""
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    (top / "dx" / "state").mkdir(parents=True)
    stop = threading.Event()
    flips = 0

    def flip() -> None:
        nonlocal flips
        while not stop.is_set():
            try:
                os.rename(top / "dx", top / "dx.real")
                os.symlink(sentinel, top / "dx")
                flips += 1
                os.rename(top / "dx", top / "dx.away")
                os.rename(top / "dx.real", top / "dx")
            except OSError:
                pass  # the core replaced the link meanwhile: start over
            for left in (top / "dx.away", top / "dx.real"):
                if left.is_symlink() or left.is_file():
                    left.unlink()
                elif left.is_dir():
                    shutil.rmtree(left)

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        for _ in range(300):
            for op in (lambda: beneath.empty_dir(top, "dx/state"),
                       lambda: beneath.chown_tree(top, "dx", os.geteuid(), os.getegid())):
                try:
                    op()
                except (PlantedLinkError, FileNotFoundError, FileExistsError):
                    pass
    finally:
        stop.set()
        flipper.join()
    assert flips > 50  # the flipper did get in the way
    assert snapshot(sentinel) == before


def test_bad_relative_paths_are_refused_with_the_rule(top: Path) -> None:
    for bad in ("../x", "/etc", "a/../../b", ""):
        with pytest.raises(ValueError, match="relative and plain"):
            beneath.remove(top, bad)
