"""Per-session operator identities handed to `hivetui attach` children (e.g. SSH sessions).

The SSH server authenticates a key, issues a session token bound to that key's operator
name and role, and passes it to the child in ``HIVETUI_SESSION_TOKEN``. The control server
maps the token back: identity never comes from what the client says about itself.
"""

from __future__ import annotations

import hmac
import secrets

from hivetui.core.operator import Operator

SESSION_TOKEN_ENV = "HIVETUI_SESSION_TOKEN"


class SessionTokens:
    def __init__(self) -> None:
        self._tokens: dict[str, Operator] = {}

    def issue(self, operator: str, read_only: bool) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = Operator(operator, read_only)
        return token

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)

    def resolve(self, token: str) -> Operator | None:
        found: Operator | None = None
        for known, who in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = who
        return found

    def __len__(self) -> int:
        return len(self._tokens)
