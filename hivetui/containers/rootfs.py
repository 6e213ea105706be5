"""What a local container sees of the host: the system, the hive's install, nothing else.

Read-only from the host: the system directories (:data:`SYSTEM_TOP`), ``/nix/store``, the
parts of ``/etc`` programs need (:data:`ETC_KEEP`: no shadow, ssh or machine secrets), and
the hive's install: the interpreter's prefixes, every directory on its ``sys.path`` outside
the system, the ``hivetui`` package directory (of an editable install: that directory, not
the checkout around it), and the ``claude`` and ``node`` programs. Nothing else of the
host: no homes, no state directory, no sockets, no ``/run``, ``/tmp``, ``/var``, ``/opt``
or ``/srv``. The same list serves bubblewrap (:mod:`hivetui.containers.sandbox`) and the
``unshare`` path (:mod:`hivetui.containers.mounts`).

An install path that would expose more than an install (``/``, a top-level directory, a
user's home itself) is left out with a warning: such a hive cannot run its agents isolated
until it is installed somewhere of its own.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import hivetui

log = logging.getLogger(__name__)

#: Top-level host entries every container gets (those that exist), read-only.
SYSTEM_TOP = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: Further system trees, read-only when present.
SYSTEM_TREES = ("/nix/store",)
#: The entries of /etc a container gets: name service, libraries, certificates, locale,
#: time zone, shells, git and python defaults; no secrets of the host.
ETC_KEEP = frozenset({
    "passwd", "group", "nsswitch.conf", "hosts", "host.conf", "resolv.conf", "gai.conf",
    "services", "protocols", "networks", "localtime", "timezone", "ld.so.cache",
    "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl", "ca-certificates",
    "ca-certificates.conf", "pki", "os-release", "debian_version", "mime.types", "magic",
    "terminfo", "profile", "profile.d", "bash.bashrc", "inputrc", "environment", "locale.alias",
    "locale.conf", "gitconfig", "static", "zoneinfo", "shells",
})
#: ... and those whose name starts so (python's own defaults: /etc/python3.11).
ETC_KEEP_PREFIXES = ("python3",)
#: names the claude program as the harness runs it (hivetui.harness.claude.CLAUDE_BIN_ENV;
#: not imported: the harness's dependencies need not be importable where plans are made)
CLAUDE_BIN_ENV = "HIVETUI_CLAUDE_BIN"
#: NixOS: PATH goes through these links into the store.
NIXOS_RUN_LINKS = ("/run/current-system", "/run/booted-system")


@dataclass(frozen=True)
class RootEntry:
    """One thing of the host in a container, at the same path: a read-only bind (``dir``
    or ``file``) or a recreated ``symlink`` (``target``: the link's text)."""

    kind: str
    path: str
    target: str = ""


def _entry(path: str) -> RootEntry | None:
    if os.path.islink(path):
        return RootEntry("symlink", path, os.readlink(path))
    if os.path.isdir(path):
        return RootEntry("dir", path)
    if os.path.isfile(path):
        return RootEntry("file", path)
    return None


def system_entries() -> list[RootEntry]:
    """The host's system as every container sees it (in mount order)."""
    wanted = [f"/{name}" for name in SYSTEM_TOP] + list(SYSTEM_TREES)
    if os.path.isdir("/etc"):
        wanted += [f"/etc/{name}" for name in sorted(os.listdir("/etc"))
                   if name in ETC_KEEP or name.startswith(ETC_KEEP_PREFIXES)]
    wanted += [p for p in NIXOS_RUN_LINKS if os.path.islink(p)]
    return [e for e in map(_entry, wanted) if e is not None]


def _system_path(path: str) -> bool:
    """Inside what :func:`system_entries` gives every container already."""
    tops = [f"/{name}" for name in SYSTEM_TOP if not os.path.islink(f"/{name}")]
    return any(path == top or path.startswith(top + "/") for top in (*tops, *SYSTEM_TREES))


def _too_wide(path: str) -> bool:
    """``/``, a top-level directory or a user's home: more than an install."""
    if path.count("/") < 2:
        return True
    homes = {p.pw_dir.rstrip("/") for p in pwd.getpwall() if p.pw_dir not in ("", "/")}
    return path in homes


def _program_paths(program: str) -> list[str]:
    """``program`` as found on this PATH: the directory of its real file (a package or a
    versions dir) and, when PATH reaches it through a link, that path too."""
    found = shutil.which(program)
    if found is None:
        return []
    real = os.path.realpath(found)
    return [os.path.dirname(real)] + ([found] if found != real else [])


def hivetui_package_dir() -> str:
    return str(Path(hivetui.__file__).resolve().parent)


def install_paths(programs: tuple[str, ...] = ()) -> list[str]:
    """Host paths of the hive's install a container needs, outside the system dirs,
    none below another; each bound read-only at the same path. ``programs`` (paths or
    names on PATH, such as the core's resolved claude) come with their directories."""
    programs = (*programs, os.environ.get(CLAUDE_BIN_ENV) or "claude", "node")
    package = hivetui_package_dir()
    source_root = os.path.dirname(package)
    wanted = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              os.path.dirname(sys.executable), package]
    wanted += [p for p in sys.path[1:] if p and os.path.isdir(p)
               and os.path.realpath(p) != source_root]
    for program in programs:
        wanted += _program_paths(program)
    chosen: list[str] = []
    for path in sorted({q for p in wanted for q in (os.path.abspath(p), os.path.realpath(p))}):
        if not os.path.exists(path) or _system_path(path) or \
                any(path.startswith(c + "/") for c in chosen):
            continue
        if _too_wide(path):
            log.warning("containers do not get %s: it is more than the hive's install "
                        "(install hivetui and its python in a directory of their own)", path)
            continue
        chosen.append(path)
    return chosen
