"""Where everything lives under the state dir."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

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


def copy_plain_tree(src: Path, dst: Path) -> None:
    """Copy directories, regular files and symlinks (as links, never followed) from
    ``src`` into ``dst``; anything else (fifos, sockets, devices) is skipped. ``src`` is
    written by an agent, so no path in it is trusted: files are opened without following
    links and without blocking, and checked to be regular after opening."""
    dst.mkdir(parents=True, exist_ok=True)
    with os.scandir(src) as entries:
        for entry in entries:
            target = dst / entry.name
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            elif entry.is_dir(follow_symlinks=False):
                copy_plain_tree(Path(entry.path), target)
            elif entry.is_file(follow_symlinks=False):
                _copy_regular(Path(entry.path), target)
            else:
                log.warning("not copying %s: not a file, directory or symlink", entry.path)


def _copy_regular(src: Path, dst: Path) -> None:
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fin:
        st = os.fstat(fin.fileno())
        if not stat.S_ISREG(st.st_mode):
            log.warning("not copying %s: not a regular file", src)
            return
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                      stat.S_IMODE(st.st_mode))
        with os.fdopen(out, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)


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
            old = agent_dir / "state"
            new = self.agent_state(agent_dir.name)
            if old.is_symlink() or not old.is_dir() or os.path.lexists(new) \
                    or self.is_draft_dir(agent_dir.name):
                continue
            os.rename(old, new)
            old.mkdir(mode=0o700)
            log.info("%s: state moved from %s to %s (out of the manager's writable view)",
                     agent_dir.name, old, new)
            moved.append(agent_dir.name)
        return moved


def share_owner(tree: Path, like: Path) -> None:
    """Give ``tree`` (everything below it too; links themselves, never their targets) the
    owner of ``like`` when this process is root and the owners differ.

    The manager's container may own its writable view (``agents/``: a backend running as
    root maps container root to an unprivileged uid and hands it the tree at the manager's
    start). What the core adds there later -- a new agent's proposed config, a draft's notes
    area -- must be the manager's too, or it cannot edit it until its next start.
    """
    if os.geteuid() != 0:
        return
    st = like.stat()
    if (st.st_uid, st.st_gid) == (0, 0):
        return
    for top, dirs, files in os.walk(tree):
        os.lchown(top, st.st_uid, st.st_gid)
        for entry in (*dirs, *files):
            os.lchown(os.path.join(top, entry), st.st_uid, st.st_gid)
