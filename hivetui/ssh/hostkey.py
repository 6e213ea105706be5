"""The server's host key: ed25519, generated on first start, kept 0600 under <state>/ssh/."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import asyncssh

from hivetui.core.errors import SSHError
from hivetui.core.paths import ensure_private_dir, write_private_file

log = logging.getLogger(__name__)

HOST_KEY_NAME = "ssh_host_ed25519_key"


def load_or_create_host_key(ssh_dir: Path) -> asyncssh.SSHKey:
    """Load ``<ssh_dir>/ssh_host_ed25519_key``, generating it (0600) the first time.

    A key file readable by group or others is refused, as OpenSSH refuses it: a host key
    that others could have copied no longer proves who the server is.
    """
    ensure_private_dir(ssh_dir)
    path = ssh_dir / HOST_KEY_NAME
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SSHError(
                f"host key {path} has mode {mode:o}; it must be 0600 (readable by its owner "
                "only) — fix it with chmod 600 or delete it to generate a new one")
        try:
            key = asyncssh.read_private_key(path)
        except (asyncssh.KeyImportError, OSError, ValueError) as exc:
            raise SSHError(f"host key {path} cannot be read: {exc}") from exc
        log.info("ssh host key loaded from %s: %s", path, key.get_fingerprint("sha256"))
        return key
    key = asyncssh.generate_private_key("ssh-ed25519", comment="hivetui host key")
    write_private_file(path, key.export_private_key("openssh").decode("ascii"))
    pub = path.with_name(path.name + ".pub")
    pub.write_text(key.export_public_key("openssh").decode("ascii"), encoding="ascii")
    os.chmod(pub, 0o644)
    log.info("ssh host key generated at %s: %s", path, key.get_fingerprint("sha256"))
    return key
