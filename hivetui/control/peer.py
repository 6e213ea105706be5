"""Who is at the other end of the control socket: an operator, or a contained process.

The peer's uid alone does not tell: with a non-root core, a container's root maps to the
core's own uid. A peer is an operator only when

* its uid is the core's or root's, and
* it lives in the core's user namespace and sees the core's root directory: every local
  container has a user namespace of its own, and every container (a nixos one too) a root
  of its own.

The connecting process is pinned by a pidfd (``SO_PEERPIDFD``, Linux 6.5) that must still
be alive after its ``/proc`` entry was read, so a peer that exits and leaves its pid to an
operator's process is refused; older kernels fall back to the pid and its start time.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import struct

from hivetui.core.errors import ControlError

#: getsockopt option of Linux >= 6.5: a pidfd of the process that connected
SO_PEERPIDFD = 77
OPERATORS_ONLY = "the control socket is for the hive's operator account only"


def _peer(sock: socket.socket) -> tuple[int, int]:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return int(pid), int(uid)


def _peer_pidfd(sock: socket.socket) -> int | None:
    """A pidfd of the connecting process; None where the kernel has no SO_PEERPIDFD."""
    try:
        return int(sock.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD))
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            raise ProcessLookupError(exc.errno, "the peer has exited") from exc
        return None


def _start_time(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
        return fh.read().rsplit(")", 1)[1].split()[19]


def _same_place(pid: int) -> str | None:
    """Why ``pid`` is not where the core is (None: same user namespace and root)."""
    if os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user"):
        return "it runs in another user namespace (a container)"
    theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/")
    if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
        return "it sees another root directory (a container)"
    return None


def operator_uid(sock: socket.socket) -> int:
    """The uid of the operator at the other end of ``sock``; ControlError naming why when
    the peer is no operator."""
    pid, uid = _peer(sock)
    if uid not in (os.getuid(), 0):
        raise ControlError(f"{OPERATORS_ONLY} (peer uid {uid})")
    if pid <= 0:
        raise ControlError(f"{OPERATORS_ONLY}: the peer is in a pid namespace the hive "
                           "cannot see")
    pidfd: int | None = None
    try:
        pidfd = _peer_pidfd(sock)
        started = _start_time(pid)
        why = _same_place(pid)
        if _start_time(pid) != started:
            raise ProcessLookupError
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, 0)  # ProcessLookupError: it has gone
    except PermissionError:
        # only real root can be a peer the core may not inspect (a container's uids map
        # to the core's uid or to none), and root is an operator
        if uid == 0 and os.getuid() != 0:
            return uid
        raise ControlError(f"{OPERATORS_ONLY}: the peer cannot be inspected") from None
    except (FileNotFoundError, ProcessLookupError):
        raise ControlError(f"{OPERATORS_ONLY}: the peer went away before it was "
                           "checked") from None
    finally:
        if pidfd is not None:
            os.close(pidfd)
    if why:
        raise ControlError(f"{OPERATORS_ONLY}: {why}")
    return uid
