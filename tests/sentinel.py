"""A sentinel directory outside a hive's tree, and a snapshot that shows any touch of it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

Snapshot = dict[str, tuple[int, int, int, int, bytes]]


def make_sentinel(path: Path) -> Path:
    """A host tree that planted links point at: files named like what the core handles
    (``state``, ``config``), a nested file, and a file named ``state`` in a subdir."""
    (path / "state").mkdir(parents=True)
    (path / "state" / "keep.txt").write_text("host file: never touched\n")
    (path / "config").mkdir()
    (path / "config" / "settings.toml").write_text("host config\n")
    (path / "filedir").mkdir()
    (path / "filedir" / "state").write_text("a host file named state\n")
    return path


def snapshot(path: Path) -> Snapshot:
    """Every entry below ``path`` (and itself): type+mode, owner, group, mtime, content."""
    seen: Snapshot = {}
    for top, dirs, files in os.walk(path):
        for name in (".", *dirs, *files):
            full = os.path.join(top, name)
            st = os.lstat(full)
            data = b""
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    data = fh.read()
            seen[os.path.relpath(full, path)] = (st.st_mode, st.st_uid, st.st_gid,
                                                 st.st_mtime_ns, data)
    return seen
