"""The programs agent runtimes need, found by the core and passed into every container.

``[claude] bin`` (config.toml) names the Claude Code CLI: a path, or a name looked up on the
core's own ``PATH`` (default ``claude``). The core resolves it when an agent with the
``claude`` runtime is spawned or started, and refuses there, naming where it looked, rather
than let every turn fail inside the container. The resolved path reaches the container in
``ContainerSpec.claude_bin`` and, for the harness, the ``HIVETUI_CLAUDE_BIN`` variable. A
backend whose containers bring their own programs (the nixos backend: claude-code from the
agent's Nix closure) needs none on the host.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hivetui.core.errors import ContainerError

CLAUDE_RUNTIME = "claude"
CLAUDE_BIN_ENV = "HIVETUI_CLAUDE_BIN"
INSTALL_HINT = ("install Claude Code (npm install -g @anthropic-ai/claude-code) or set "
                "[claude] bin in config.toml to its path")


def resolve_claude_bin(configured: str, search_path: str | None = None) -> str:
    """The real path of the ``claude`` program ``configured`` names (a path, or a name on
    ``search_path``, default the core's ``PATH``); ``ContainerError`` naming where it looked."""
    name = configured.strip()
    if not name:
        raise ContainerError(f"[claude] bin is empty: {INSTALL_HINT}")
    if "/" in name:
        candidate = Path(name).expanduser()
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
        raise ContainerError(f"runtime claude: no executable program at {str(candidate)[:300]} "
                             f"([claude] bin in config.toml): {INSTALL_HINT}")
    path = os.environ.get("PATH", "") if search_path is None else search_path
    found = shutil.which(name, path=path)
    if found is None:
        raise ContainerError(f"runtime claude: {name[:100]!r} is not on the core's PATH "
                             f"({path[:300] or 'empty'}): {INSTALL_HINT}")
    return os.path.realpath(found)
