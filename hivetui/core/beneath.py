"""File operations beneath a trusted directory that never follow a link.

The manager writes ``agents/`` (its ``/agents`` bind) and every agent writes its own
``states/<n>``: any entry below those directories may be a symlink planted to send the core
(root, in a root-run hive) onto host files. Every function here takes a trusted ``top``
(a directory the core made and no agent can replace: ``<state>/agents``, ``<state>/states``)
and a relative path below it. Each component is opened with ``O_NOFOLLOW`` relative to its
parent's descriptor, and the work is done on descriptors only, so a link met on the way
is refused (:class:`PlantedLinkError`), never followed, however the tree changes meanwhile.
A link that is itself the object of a removal is removed, not its target.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from hivetui.core.errors import HiveError

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_COPY_CHUNK = 1 << 20


class PlantedLinkError(HiveError):
    title = "Unsafe path"


def _parts(rel: str) -> list[str]:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if rel.startswith("/") or ".." in parts or not parts:
        raise ValueError(f"a path below a trusted directory must be relative and plain, "
                         f"got {rel[:100]!r}")
    return parts


def open_child(parent: int, name: str, where: str, *, create: bool = False) -> int:
    """A descriptor of the directory ``name`` in ``parent``; a link or a file there is
    refused (``where`` names it in the error)."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise PlantedLinkError(f"{where} is not a plain directory (a link or a file): "
                                   "the hive never follows links below its state dir") from exc
        raise


@contextlib.contextmanager
def open_dir(top: Path, rel: str = "", *, create: bool = False) -> Iterator[int]:
    """A descriptor of ``top/rel``, each component opened without following a link
    (``create``: missing ones are made, 0755). ``top`` itself is trusted."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        where = str(top)
        for name in _parts(rel) if rel else []:
            where = f"{where}/{name}"
            child = open_child(fd, name, where, create=create)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _split(rel: str) -> tuple[str, str]:
    parts = _parts(rel)
    return "/".join(parts[:-1]), parts[-1]


def lstat(top: Path, rel: str) -> os.stat_result | None:
    """``top/rel`` itself (a link is not followed), or None when absent or when a
    directory on the way is not a plain directory."""
    parent, name = _split(rel)
    try:
        with open_dir(top, parent) as fd:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except (FileNotFoundError, PlantedLinkError):
        return None


def is_plain_dir(top: Path, rel: str) -> bool:
    st = lstat(top, rel)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _remove_at(parent: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        # shutil's fd-based walk: never follows a link, also not one swapped in meanwhile
        shutil.rmtree(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def remove(top: Path, rel: str) -> None:
    """Remove ``top/rel`` whatever it is (a link: the link); absent is fine."""
    parent, name = _split(rel)
    try:
        with open_dir(top, parent) as fd:
            _remove_at(fd, name)
    except FileNotFoundError:
        return


def make_dirs(top: Path, rel: str) -> None:
    """``mkdir -p top/rel`` (0755) without following a link on the way."""
    with open_dir(top, rel, create=True):
        pass


def ensure_plain_dir(top: Path, rel: str) -> None:
    """Make every component of ``top/rel`` a plain directory: a link or a file found on
    the way is removed (itself, never its target), a missing one made."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        where = str(top)
        for name in _parts(rel):
            where = f"{where}/{name}"
            # gone, or swapped back to a directory since the stat: either way the open
            # below (never following a link) decides
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                if not stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    os.unlink(name, dir_fd=fd)
            child = open_child(fd, name, where, create=True)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def empty_dir(top: Path, rel: str) -> None:
    """Make ``top/rel`` an empty plain directory, whatever an agent left there or on the
    way (links and files are replaced, never followed)."""
    parent, name = _split(rel)
    if parent:
        ensure_plain_dir(top, parent)
    with open_dir(top, parent) as fd:
        _remove_at(fd, name)
        os.mkdir(name, 0o755, dir_fd=fd)


def rename(top: Path, rel: str, dst_top: Path, dst_rel: str) -> None:
    """Move ``top/rel`` to ``dst_top/dst_rel`` (same filesystem), parents not followed."""
    src_parent, src_name = _split(rel)
    dst_parent, dst_name = _split(dst_rel)
    with open_dir(top, src_parent) as src, open_dir(dst_top, dst_parent) as dst:
        os.rename(src_name, dst_name, src_dir_fd=src, dst_dir_fd=dst)


def write_file(top: Path, rel: str, data: str, mode: int = 0o600) -> None:
    """Write ``top/rel`` atomically: a new file (``O_EXCL``, never a link an agent left)
    renamed over whatever ``rel`` was, directories on the way not followed."""
    parent, name = _split(rel)
    with open_dir(top, parent) as fd:
        tmp = f".{name}.{secrets.token_hex(8)}.tmp"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      mode, dir_fd=fd)
        try:
            with os.fdopen(out, "w", encoding="utf-8") as fh:
                fh.write(data)
            os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            raise


def copy_plain_tree(top: Path, rel: str, dst_top: Path, dst_rel: str, *,
                    links: bool = True) -> None:
    """Copy directories, regular files and symlinks (as links, never followed; left out
    unless ``links``) from ``top/rel`` into the new directory ``dst_top/dst_rel``; anything
    else (fifos, sockets, devices) is skipped. The source is an agent's: nothing in it is
    trusted."""
    dst_parent, dst_name = _split(dst_rel)
    with open_dir(top, rel) as src, open_dir(dst_top, dst_parent) as dst:
        _copy_into(src, dst, dst_name, f"{top}/{rel}", links)


def _copy_into(src: int, dst_parent: int, name: str, where: str, links: bool) -> None:
    """Make the directory ``name`` in ``dst_parent`` and copy ``src`` into it."""
    os.mkdir(name, 0o755, dir_fd=dst_parent)
    out = os.open(name, _DIR_FLAGS, dir_fd=dst_parent)
    try:
        _copy_dir(src, out, where, links)
    finally:
        os.close(out)


def _copy_dir(src: int, dst: int, where: str, links: bool) -> None:
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            if links:
                os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISDIR(st.st_mode):
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=src)
            except OSError as exc:
                log.warning("not copying %s/%s: %s", where, name, exc.strerror)
                continue
            try:
                _copy_into(sub, dst, name, f"{where}/{name}", links)
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            _copy_regular(src, dst, name, where)
        else:
            log.warning("not copying %s/%s: not a file, directory or symlink", where, name)


def _copy_regular(src: int, dst: int, name: str, where: str) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=src)
    except OSError as exc:
        log.warning("not copying %s/%s: %s", where, name, exc.strerror)
        return
    with os.fdopen(fd, "rb") as fin:
        st = os.fstat(fin.fileno())
        if not stat.S_ISREG(st.st_mode):
            log.warning("not copying %s/%s: not a regular file", where, name)
            return
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                      | os.O_CLOEXEC, stat.S_IMODE(st.st_mode), dir_fd=dst)
        with os.fdopen(out, "wb") as fout:
            while chunk := fin.read(_COPY_CHUNK):
                fout.write(chunk)


def chown_tree(top: Path, rel: str, uid: int, gid: int) -> None:
    """Give ``top/rel`` and everything below it (links themselves, never their targets)
    to ``uid``/``gid``; a link on the way to ``top/rel`` is refused."""
    parent, name = _split(rel)
    with open_dir(top, parent) as fd:
        os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
        # fwalk opens every directory relative to its parent's fd, links never followed
        for _path, dirs, files, dir_fd in os.fwalk(name, dir_fd=fd):
            for entry in (*dirs, *files):
                os.chown(entry, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
