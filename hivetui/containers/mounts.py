"""Mount syscalls through ctypes, and the root filesystem the ``unshare`` path builds.

Runs inside the container's fresh user + mount namespaces (as uid 0 there), before the
first process starts. bubblewrap builds the same layout from its own options
(see :mod:`hivetui.containers.sandbox`).
"""

from __future__ import annotations

import ctypes
import os
import platform
import stat
from dataclasses import dataclass

from hivetui.containers.rootfs import system_entries

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added in 5.12)
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203,
                  "s390x": 217, "i686": 217, "armv7l": 218}

DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = ctypes.CDLL(None, use_errno=True)


class MountError(OSError):
    pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    _check(
        _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                    ctypes.c_ulong(flags), data.encode() if data else None),
        f"mount {source} on {target}",
    )


def umount_detach(target: str) -> None:
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise MountError(0, f"pivot_root: unknown architecture {platform.machine()}")
    _check(_libc.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def make_readonly_recursive(target: str) -> None:
    """Read-only for ``target`` and every mount below it."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    ret = _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, target.encode(), AT_RECURSIVE,
                        ctypes.byref(attr), ctypes.sizeof(attr))
    if ret == 0:
        return
    # Kernels before 5.12: remount each mount below target, keeping its locked flags.
    for point in _mounts_under(target):
        _remount_readonly(point)


def _mounts_under(target: str) -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == target or point.startswith(target.rstrip("/") + "/"):
                points.append(point)
    return points


def _remount_readonly(point: str) -> None:
    vfs = os.statvfs(point)
    keep = 0
    for flag_vfs, flag_ms in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV),
                              (os.ST_NOEXEC, MS_NOEXEC)):
        if vfs.f_flag & flag_vfs:
            keep |= flag_ms
    mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)


@dataclass(frozen=True)
class BindPlan:
    """A bind into the container; ``source`` is reachable by the container's uid."""

    source: str
    target: str
    writable: bool


def bind(source: str, target: str, *, writable: bool, recursive: bool = True) -> None:
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    if not writable:
        make_readonly_recursive(target)


def _ensure_mountpoint(root: str, target: str, is_dir: bool) -> str:
    path = root + target
    if os.path.lexists(path):
        return path
    try:
        if is_dir:
            os.makedirs(path, mode=0o755)
        else:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    except OSError as exc:
        raise MountError(exc.errno or 0,
                         f"cannot create mount point {target} in the container: "
                         f"{exc.strerror} (bind targets must not lie inside the host's "
                         "read-only system dirs)") from exc
    return path


def build_root(root: str, binds: list[BindPlan], hostname: str,
               dirs: tuple[str, ...] = ()) -> None:
    """Build the container's root on a tmpfs at ``root`` and pivot into it.

    Layout: the host's system and the hive's install read-only (symlinks recreated; see
    :mod:`hivetui.containers.rootfs`), fresh ``/proc``,
    a minimal ``/dev``, private ``/tmp`` and ``/dev/shm``, ``/run`` a read-only tmpfs
    holding the binds below it, then the binds (``/state`` writable) and empty ``dirs`` (mount
    points for init's own mounts). ``/`` ends read-only.
    """
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    # hold the bind sources before the tmpfs at ``root`` (/tmp) may hide them
    held = [os.open(item.source, os.O_PATH | os.O_CLOEXEC) for item in binds]
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    os.mkdir(f"{root}/etc", 0o755)
    _build_system(root, in_run=False)
    os.mkdir(f"{root}/proc", 0o555)
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _build_dev(f"{root}/dev")
    os.mkdir(f"{root}/tmp", 0o1777)
    mount("tmpfs", f"{root}/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.mkdir(f"{root}/run", 0o755)
    mount("tmpfs", f"{root}/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    _build_system(root, in_run=True)
    for item, fd in zip(binds, held, strict=True):
        source = f"/proc/self/fd/{fd}"
        is_dir = stat.S_ISDIR(os.stat(source).st_mode)
        point = _ensure_mountpoint(root, item.target, is_dir)
        bind(source, point, writable=item.writable, recursive=is_dir)
        os.close(fd)
    for path in dirs:
        _ensure_mountpoint(root, path, True)
    _remount_own_readonly(f"{root}/run")
    os.chdir(root)
    pivot_root(".", ".")
    umount_detach(".")
    os.chdir("/")
    _remount_own_readonly("/")
    import socket

    socket.sethostname(hostname)


def _build_system(root: str, *, in_run: bool) -> None:
    """The host's system entries (:func:`system_entries`) at the same paths below
    ``root``: those in /run (a tmpfs mounted later) or all the others."""
    for entry in system_entries():
        if entry.path.startswith("/run/") != in_run:
            continue
        path = root + entry.path
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        if entry.kind == "symlink":
            os.symlink(entry.target, path)
        elif entry.kind == "dir":
            os.makedirs(path, mode=0o755, exist_ok=True)
            bind(entry.path, path, writable=False)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            bind(entry.path, path, writable=False, recursive=False)


def mount_overlay_state(target: str, upper: str, work: str, lower: str) -> str:
    """An overlay at ``target`` whose only written layer is ``upper`` (the agent's state; an
    empty ``lower``): the mount shows the layer names given here, never the host path of a
    bind. A host whose state filesystem cannot be an overlay's upper layer gets a plain bind
    of ``upper`` instead (its mountinfo shows the host path): the returned text says so,
    else ""."""
    try:
        mount("overlay", target, "overlay", MS_NOSUID | MS_NODEV,
              f"lowerdir={lower},upperdir={upper},workdir={work},userxattr")
        return ""
    except MountError as exc:
        bind(upper, target, writable=True)
        return f"the state is a plain bind (no overlay here: {exc})"


def _remount_own_readonly(point: str) -> None:
    mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _build_dev(dev: str) -> None:
    os.mkdir(dev, 0o755)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755")
    for node in DEV_NODES:
        path = f"{dev}/{node}"
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
        mount(f"/dev/{node}", path, None, MS_BIND)
    os.mkdir(f"{dev}/shm", 0o1777)
    mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.mkdir(f"{dev}/pts", 0o755)
    try:
        mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=620")
        os.symlink("pts/ptmx", f"{dev}/ptmx")
    except MountError as exc:
        print(f"hive-init: no private /dev/pts ({exc}); terminals inside unavailable",
              flush=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    _remount_own_readonly(dev)
