"""The environment of a session's program: what it inherits, what the client may set.

Textual (through Rich) picks its colour depth from ``COLORTERM``: ``truecolor`` or
``24bit`` give 24-bit colour, anything else falls back to what ``TERM`` promises (256
colours for ``xterm-256color``). ssh clients rarely forward ``COLORTERM`` (OpenSSH only
with ``SendEnv COLORTERM``), so a session gets ``COLORTERM=truecolor`` unless the client
sent a value of its own — which is how an operator on a lesser terminal opts down.
The client's ``NO_COLOR`` (https://no-color.org, OpenSSH ``SendEnv NO_COLOR``) reaches the
session too: Textual then draws without colour. The server's own never does: colour is the
client's terminal's business.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hivetui.control.sessions import SESSION_TOKEN_ENV

SOCKET_ENV = "HIVETUI_SOCKET"
DEFAULT_COLORTERM = "truecolor"
# What the child inherits from the server: enough to run, never the server's secrets
# (an API key in the server's environment stays there).
_PASS_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TZ", "LANG", "LANGUAGE",
                       "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV"})
_PASS_PREFIXES = ("LC_", "XDG_", "HIVETUI_")
# What the client may set (OpenSSH SendEnv): locale and colour support only.
_CLIENT_ENV = frozenset({"LANG", "LANGUAGE", "COLORTERM", "NO_COLOR"})
_NEVER_PASS = frozenset({SESSION_TOKEN_ENV, SOCKET_ENV})
_MAX_CLIENT_VALUE = 256


def session_env(*, term: str, socket: str, token: str, client_env: Mapping[str, str],
                extra: Mapping[str, str] | None = None,
                server_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The session program's environment.

    Built in order: the server's harmless variables, the client's allowed ones (locale,
    ``COLORTERM``, ``NO_COLOR``), ``COLORTERM=truecolor`` if still unset, ``extra`` (the server
    config's), then ``TERM`` (as the client's pty request said), the socket and token.
    """
    source = os.environ if server_env is None else server_env
    env = {k: v for k, v in source.items()
           if (k in _PASS_ENV or k.startswith(_PASS_PREFIXES)) and k not in _NEVER_PASS}
    for key, value in client_env.items():
        if (key in _CLIENT_ENV or key.startswith("LC_")) and len(value) <= _MAX_CLIENT_VALUE \
                and value.isprintable():
            env[key] = value
    env.setdefault("COLORTERM", DEFAULT_COLORTERM)
    env.update(extra or {})
    env["TERM"] = term
    env[SOCKET_ENV] = socket
    env[SESSION_TOKEN_ENV] = token
    return env
