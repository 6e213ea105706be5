"""Where everything lives under the state dir."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from hivetui.core import beneath

log = logging.getLogger(__name__)

#: where ``ConfigRepos`` keeps an agent's applied (bare) repo and the ref of its applied
#: config, relative to the state dir (read here only to tell a draft from a spawned agent)
_APPLIED_REPO = "repos/{name}.git"
_APPLIED_REF = "refs/hive/applied"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private_file(path: Path, data: str) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "hive.sqlite3"

    @property
    def run(self) -> Path:
        """0700: the control socket and the bridge address."""
        return self.root / "run"

    @property
    def control_socket(self) -> Path:
        return self.run / "control.sock"

    @property
    def bridge_file(self) -> Path:
        return self.run / "bridge.json"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "hivetui.log"

    @property
    def agents(self) -> Path:
        return self.root / "agents"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    def agent_dir(self, name: str) -> Path:
        return self.agents / name

    @property
    def secrets(self) -> Path:
        """0700: per-agent run dirs with tokens, kept apart from ``agents/`` (which the
        manager's container sees) so no agent can ever read another's token."""
        return self.root / "secrets"

    def agent_run(self, name: str) -> Path:
        """Bound into the container at /run/hive: token and MCP config."""
        return self.secrets / name

    @property
    def states(self) -> Path:
        """0700: every agent's real persistent state, kept apart from ``agents/`` (which
        the manager's container sees writable) so the manager can never write into it."""
        return self.root / "states"

    def agent_state(self, name: str) -> Path:
        """Bound into the container at /state: the agent's persistent files."""
        return self.states / name

    def agent_draft_state(self, name: str) -> Path:
        """``agents/<n>/state``, in the manager's writable view: a draft's first notes
        (copied into :meth:`agent_state` when the draft is spawned) and, for a spawned
        agent, the empty mountpoint of the manager's read-only bind of its real state."""
        return self.agent_dir(name) / "state"

    def agent_config(self, name: str) -> Path:
        """The proposed config repo (git working copy)."""
        return self.agent_dir(name) / "config"

    def agent_log(self, name: str) -> Path:
        """Outside agents/: no agent (not even the manager, which sees agents/) writes it."""
        return self.log_dir / "agents" / f"{name}.log"

    @property
    def containers(self) -> Path:
        """0700: container backends' bookkeeping (supervisor plans, pids, exit status),
        outside agents/ so the manager's view of agents/ cannot reach it."""
        return self.root / "containers"

    def prepare(self) -> None:
        ensure_private_dir(self.root)
        ensure_private_dir(self.run)
        ensure_private_dir(self.log_dir)
        ensure_private_dir(self.agents)
        ensure_private_dir(self.states)
        ensure_private_dir(self.secrets)
        ensure_private_dir(self.containers)
        self.migrate_states()

    def is_draft_dir(self, name: str) -> bool:
        """A draft: a proposed config repo and no applied config yet (see ``KeptAgents``)."""
        if not (self.agent_config(name) / ".git").exists():
            return False
        repo = self.root / _APPLIED_REPO.format(name=name)
        if (repo / _APPLIED_REF).is_file():
            return False
        try:
            packed = (repo / "packed-refs").read_text("utf-8")
        except FileNotFoundError:
            return True
        return not any(line.endswith(" " + _APPLIED_REF) for line in packed.splitlines())

    def migrate_states(self) -> list[str]:
        """Move agents' state laid out the old way (``agents/<n>/state``, inside the
        manager's writable view) to ``states/<n>``, leaving an empty mountpoint; drafts keep
        theirs (it is the manager's to prepare). A rename: same filesystem, atomic, and a
        running container's bind follows it. Returns the names moved."""
        moved = []
        for agent_dir in sorted(self.agents.iterdir()):
            name = agent_dir.name
            # agents/ is the manager's: every entry below it may be a planted link
            if not beneath.is_plain_dir(self.agents, f"{name}/state") \
                    or os.path.lexists(self.agent_state(name)) or self.is_draft_dir(name):
                continue
            beneath.rename(self.agents, f"{name}/state", self.states, name)
            if not beneath.is_plain_dir(self.states, name):  # swapped for a link meanwhile
                beneath.remove(self.states, name)
                log.warning("%s: not migrating agents/%s/state: it is not a plain directory",
                            name, name)
                continue
            beneath.make_dirs(self.agents, f"{name}/state")
            log.info("%s: state moved from %s to %s (out of the manager's writable view)",
                     name, agent_dir / "state", self.agent_state(name))
            moved.append(name)
        return moved


def share_owner(agents: Path, rel: str) -> None:
    """Give ``agents/rel`` (everything below it too; links themselves, never their targets,
    and no link followed on the way) the owner of ``agents`` when this process is root and
    the owners differ.

    The manager's container may own its writable view (``agents/``: a backend running as
    root maps container root to an unprivileged uid and hands it the tree at the manager's
    start). What the core adds there later -- a new agent's proposed config, a draft's notes
    area -- must be the manager's too, or it cannot edit it until its next start.
    """
    if os.geteuid() != 0:
        return
    st = agents.stat()
    if (st.st_uid, st.st_gid) == (0, 0):
        return
    beneath.chown_tree(agents, rel, st.st_uid, st.st_gid)
