"""The operator's Anthropic credential, held by the core alone.

Where it comes from, first found wins: ``[anthropic] key_file`` (a file only its owner may
read: mode 0600 or stricter; a group- or world-readable one is refused, naming the path),
then ``ANTHROPIC_API_KEY``, then ``CLAUDE_CODE_OAUTH_TOKEN`` in the core's environment.

Two forms: an API key (``sk-ant-api…``, sent upstream as ``x-api-key``) and a subscription
OAuth token from ``claude setup-token`` (``sk-ant-oat…``, sent as ``Authorization: Bearer``
with the ``oauth-2025-04-20`` beta flag the API asks OAuth callers for). A key file says
which by its prefix.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hivetui.core.config import AnthropicConfig
from hivetui.core.errors import ConfigError

OAUTH_PREFIX = "sk-ant-oat"
OAUTH_BETA = "oauth-2025-04-20"
MAX_KEY_FILE_BYTES = 4096


@dataclass(frozen=True)
class Credential:
    kind: str  # "api_key" | "oauth"
    secret: str = ""
    source: str = ""  # where it was found (named in logs; the secret never is)

    def __repr__(self) -> str:
        return f"Credential(kind={self.kind!r}, source={self.source!r})"

    def headers(self, beta: str) -> list[tuple[bytes, bytes]]:
        """The upstream authentication headers; ``beta``: the caller's anthropic-beta
        value ("" if none), which an OAuth token extends with its flag."""
        if self.kind == "api_key":
            out = [(b"x-api-key", self.secret.encode())]
            if beta:
                out.append((b"anthropic-beta", beta.encode("latin-1")))
            return out
        flags = [f.strip() for f in beta.split(",") if f.strip()]
        if OAUTH_BETA not in flags:
            flags.append(OAUTH_BETA)
        return [(b"authorization", b"Bearer " + self.secret.encode()),
                (b"anthropic-beta", ",".join(flags).encode("latin-1"))]


def _checked(secret: str, source: str) -> Credential:
    if not secret or not secret.isascii() or not secret.isprintable() or " " in secret:
        raise ConfigError(f"the Anthropic credential in {source} must be one line of printable "
                          "ASCII with no spaces (an API key or a `claude setup-token` token)")
    return Credential("oauth" if secret.startswith(OAUTH_PREFIX) else "api_key", secret,
                      source)


def read_key_file(path: Path) -> Credential:
    """The credential in ``path``: refused (ConfigError naming the path and the rule) when
    the group or others may read or write it, or it is not a small regular file."""
    where = f"[anthropic] key_file {str(path)[:300]}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{where} must be a regular file")
        if st.st_mode & 0o077:
            raise ConfigError(f"{where} is mode {stat.S_IMODE(st.st_mode):04o}: a credential "
                              "file must be readable by its owner only (chmod 600 it)")
        raw = fh.read(MAX_KEY_FILE_BYTES + 1)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"{where} is longer than {MAX_KEY_FILE_BYTES} bytes: it must hold "
                          "one key")
    return _checked(raw.decode("utf-8", errors="replace").strip(), where)


def load_credential(config: AnthropicConfig, environ: Mapping[str, str] | None = None
                    ) -> Credential | None:
    """The operator's credential, or None when none is set (scripted hives need none)."""
    env = os.environ if environ is None else environ
    if config.key_file:
        return read_key_file(Path(config.key_file).expanduser())
    for name, kind in (("ANTHROPIC_API_KEY", "api_key"), ("CLAUDE_CODE_OAUTH_TOKEN", "oauth")):
        value = env.get(name, "").strip()
        if value:
            found = _checked(value, f"the core's {name}")
            return Credential(kind, found.secret, found.source)
    return None
