"""Small /proc readers: process start times (to recognise a pid again), children, NSpid."""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2:].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None if gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22 of /proc/PID/stat


def is_alive(pid: int, ticks: int) -> bool:
    """True if ``pid`` runs and is the same process that started at ``ticks``."""
    return pid > 0 and start_ticks(pid) == ticks


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
        return [int(p) for p in text.split()]
    except FileNotFoundError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def ns_pid(pid: int) -> int | None:
    """The pid ``pid`` has in its innermost pid namespace."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except FileNotFoundError:
        return None
    return None


def find_namespace_init(root: int, depth: int = 4) -> int | None:
    """The first descendant of ``root`` that is pid 1 of its own pid namespace."""
    level = [root]
    for _ in range(depth):
        nxt: list[int] = []
        for pid in level:
            for child in children(pid):
                if ns_pid(child) == 1:
                    return child
                nxt.append(child)
        level = nxt
    return None


def owner_uid(pid: int) -> int | None:
    """Real uid of ``pid`` as the host sees it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None
