"""The operators' keys: an OpenSSH ``authorized_keys`` file, parsed here, re-read on change.

Each line names one key and the operator it belongs to::

    [options] key-type base64 [comment]

The operator is the comment, unless the option ``hivetui-operator="name"`` names it.
The option ``hivetui-read-only`` (or the operator's name in config ``ssh.read_only``)
makes the operator read-only. ``from="pattern-list"`` restricts the client address as
in OpenSSH; the forwarding options (``no-port-forwarding`` …, ``restrict``) are accepted
and need nothing (this server never forwards anything). Any other option — ``command=``,
``no-pty``, ``cert-authority``, … — would change what the key may do in a way this server
does not implement, so the line is refused (logged with its line number) rather than
silently widened.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from hivetui.core.errors import SSHError

log = logging.getLogger(__name__)

READ_ONLY_OPTION = "hivetui-read-only"
OPERATOR_OPTION = "hivetui-operator"
_IGNORED_OPTIONS = frozenset({
    "no-port-forwarding", "no-agent-forwarding", "no-x11-forwarding", "no-user-rc",
    "restrict", "pty", "port-forwarding", "agent-forwarding", "x11-forwarding",
})
_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-sha2-|sk-ssh-|sk-ecdsa-)[A-Za-z0-9@.-]+$")
OPERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,63}$")
OPERATOR_RULE = "1-64 characters: letters, digits and . _ @ + : -, starting with a letter or digit"


@dataclass(frozen=True)
class AuthorizedKey:
    """One accepted key and the operator it stands for."""

    key: asyncssh.SSHKey
    operator: str
    read_only: bool
    fingerprint: str
    line: int
    from_patterns: tuple[str, ...] = field(default=())

    def allows(self, client_host: str, client_addr: str) -> bool:
        """True when the client address passes every ``from=`` option of the line."""
        return all(_from_matches(p, client_host, client_addr) for p in self.from_patterns)


def _from_matches(patterns: str, host: str, addr: str) -> bool:
    positive = negative = False
    for raw in patterns.split(","):
        pattern = raw.strip()
        negate = pattern.startswith("!")
        if negate:
            pattern = pattern[1:]
        if _host_matches(pattern, host, addr):
            if negate:
                negative = True
            else:
                positive = True
    return positive and not negative


def _host_matches(pattern: str, host: str, addr: str) -> bool:
    if "/" in pattern:
        try:
            return ipaddress.ip_address(addr.split("%")[0]) in ipaddress.ip_network(
                pattern, strict=False)
        except ValueError:
            return False
    pattern = pattern.lower()
    return fnmatch.fnmatchcase(addr.lower(), pattern) or (
        bool(host) and fnmatch.fnmatchcase(host.lower(), pattern))


def _split_options(line: str) -> tuple[list[tuple[str, str | None]], str]:
    """Split the leading options field off ``line`` (OpenSSH quoting rules)."""
    options: list[tuple[str, str | None]] = []
    current = ""
    quoted = escaped = False
    idx = len(line)
    for i, ch in enumerate(line):
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif quoted:
            current += ch
        elif ch in " \t":
            idx = i
            break
        elif ch == ",":
            options.append(_option(current))
            current = ""
        else:
            current += ch
    if quoted:
        raise SSHError("unbalanced quote in the options field")
    options.append(_option(current))
    return options, line[idx:].strip()


def _option(text: str) -> tuple[str, str | None]:
    if not text:
        raise SSHError("empty option in the options field")
    name, eq, value = text.partition("=")
    return name.lower(), (value if eq else None)


def parse_line(line: str, lineno: int, read_only_names: Iterable[str] = ()) -> AuthorizedKey:
    """Parse one non-blank, non-comment line; raise SSHError naming what is wrong."""
    options: list[tuple[str, str | None]] = []
    rest = line.strip()
    if not _KEY_TYPE.match(rest.split(None, 1)[0]):
        options, rest = _split_options(rest)
    parts = rest.split(None, 2)
    if len(parts) < 2 or not _KEY_TYPE.match(parts[0]):
        raise SSHError("expected '[options] key-type base64 [comment]'")
    try:
        key = asyncssh.import_public_key(f"{parts[0]} {parts[1]}")
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise SSHError(f"the {parts[0]} key does not decode: {exc}") from exc
    comment = parts[2].strip() if len(parts) > 2 else ""
    operator = comment
    read_only = False
    from_patterns: list[str] = []
    for name, value in options:
        if name == READ_ONLY_OPTION and value is None:
            read_only = True
        elif name == OPERATOR_OPTION and value is not None:
            operator = value
        elif name == "from" and value:
            from_patterns.append(value)
        elif name in _IGNORED_OPTIONS and value is None:
            continue
        else:
            shown = name if value is None else f"{name}={value!r}"
            raise SSHError(
                f"option {shown} is not supported here (supported: {READ_ONLY_OPTION}, "
                f'{OPERATOR_OPTION}="name", from="patterns", the no-*-forwarding options)'
            )
    if not operator:
        raise SSHError(
            f'the key has no operator name: add a comment or {OPERATOR_OPTION}="name"')
    if not OPERATOR_NAME.match(operator):
        raise SSHError(f"operator name {operator!r} breaks the rule ({OPERATOR_RULE})")
    read_only = read_only or operator in set(read_only_names)
    return AuthorizedKey(
        key=key, operator=operator, read_only=read_only,
        fingerprint=key.get_fingerprint("sha256"), line=lineno,
        from_patterns=tuple(from_patterns),
    )


def parse_authorized_keys(text: str, read_only_names: Iterable[str] = (), source: str = ""
                          ) -> tuple[list[AuthorizedKey], list[str]]:
    """All good lines of ``text`` as keys, and one message per refused line."""
    names = frozenset(read_only_names)
    keys: list[AuthorizedKey] = []
    errors: list[str] = []
    seen: dict[bytes, int] = {}
    where = source or "authorized_keys"
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entry = parse_line(line, lineno, names)
        except SSHError as exc:
            errors.append(f"{where}:{lineno}: line refused: {exc}")
            continue
        first = seen.get(entry.key.public_data)
        if first is not None:
            errors.append(f"{where}:{lineno}: line refused: the same key is already on "
                          f"line {first} (one key, one operator)")
            continue
        seen[entry.key.public_data] = lineno
        keys.append(entry)
    return keys, errors


class AuthorizedKeysFile:
    """The keys of one file, re-read whenever its inode, size, mtime, ctime or mode changes.

    A missing, unreadable, or group/world-writable file authorizes nobody (and says so in
    the log): removing the file revokes every key.
    """

    def __init__(self, path: Path, read_only_names: Iterable[str] = ()) -> None:
        self.path = path
        self.read_only_names = frozenset(read_only_names)
        self._stamp: tuple[int, ...] | None = None
        self._keys: list[AuthorizedKey] = []
        self.errors: list[str] = []
        self.loads = 0

    @property
    def keys(self) -> list[AuthorizedKey]:
        self.refresh()
        return list(self._keys)

    def refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            self._set([], [f"cannot read authorized keys {self.path}: {exc.strerror}"], None)
            return
        stamp = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
        if stamp == self._stamp:
            return
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            mode = stat.S_IMODE(st.st_mode)
            self._set([], [f"authorized keys {self.path} is writable by group or others "
                           f"(mode {mode:o}); refusing every key until it is 0644 or "
                           "stricter"], stamp)
            return
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self._set([], [f"cannot read authorized keys {self.path}: {exc}"], None)
            return
        keys, errors = parse_authorized_keys(text, self.read_only_names, str(self.path))
        self.loads += 1
        self._set(keys, errors, stamp)
        log.info("authorized keys %s loaded: %d key(s), %d line(s) refused",
                 self.path, len(keys), len(errors))

    def _set(self, keys: list[AuthorizedKey], errors: list[str],
             stamp: tuple[int, ...] | None) -> None:
        if errors != self.errors or stamp != self._stamp:
            for message in errors:
                log.error("%s", message)
        self._keys, self.errors, self._stamp = keys, errors, stamp

    def match(self, key: asyncssh.SSHKey, client_host: str = "", client_addr: str = ""
              ) -> AuthorizedKey | None:
        """The entry for ``key`` if it is authorized from this client address."""
        self.refresh()
        for entry in self._keys:
            if entry.key.public_data == key.public_data:
                return entry if entry.allows(client_host, client_addr) else None
        return None
