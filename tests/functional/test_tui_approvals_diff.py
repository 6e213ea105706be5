"""Diff parsing and side-by-side pairing (pure), checked on a real `git diff`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hivetui.tui.widgets.diff_side_by_side import parse_unified, side_by_side, stats


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def test_a_real_git_diff_parses_with_line_numbers(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.invalid")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\nfour\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-qm", "one")
    (tmp_path / "a.txt").write_text("one\n2\nthree\nfour\n--- not a header\n")
    (tmp_path / "b.txt").write_text("\tnew [bold]file\x1b[31m\n")
    _git(tmp_path, "add", "a.txt", "b.txt")
    lines = parse_unified(_git(tmp_path, "diff", "--cached"))
    assert stats(lines) == (2, 3, 1)
    removed = [line for line in lines if line.kind == "del"]
    assert [(d.text, d.old_no) for d in removed] == [("two", 2)]
    added = [(a.text, a.new_no) for a in lines if a.kind == "add"]
    # the escape is shown, not dropped
    assert added == [("2", 2), ("--- not a header", 5), ("    new [bold]file␛[31m", 1)]
    assert all("\x1b" not in line.text and "\t" not in line.text for line in lines)


def test_side_by_side_pairs_a_change_and_keeps_context_on_both_sides() -> None:
    diff = ("--- a/x\n+++ b/x\n@@ -1,4 +1,4 @@\n a\n-b\n-c\n+B\n d\n+e\n")
    rows = side_by_side(parse_unified(diff))
    cells = [(r.left.text if r.left else None, r.right.text if r.right else None)
             for r in rows if r.span is None]
    assert cells == [("a", "a"), ("b", "B"), ("c", None), ("d", "d"), (None, "e")]


def test_text_that_is_not_a_diff_is_shown_as_it_is() -> None:
    assert [line.kind for line in parse_unified("just text\n+ not a hunk")] == ["meta", "meta"]


_LINE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(st.lists(st.tuples(st.sampled_from(" +-"), _LINE), max_size=30))
def test_side_by_side_keeps_every_line_in_order(body: list[tuple[str, str]]) -> None:
    old = sum(1 for m, _ in body if m != "+")
    new = sum(1 for m, _ in body if m != "-")
    text = f"@@ -1,{old} +1,{new} @@\n" + "\n".join(m + t.replace("\n", "") for m, t in body)
    lines = parse_unified(text)
    rows = side_by_side(lines)
    lefts = [r.left for r in rows if r.left is not None]
    rights = [r.right for r in rows if r.right is not None]
    assert lefts == [x for x in lines if x.kind in ("del", "ctx")]
    assert rights == [x for x in lines if x.kind in ("add", "ctx")]
