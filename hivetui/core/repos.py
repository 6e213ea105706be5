"""Per-agent config repos, through the git CLI.

Two repositories per agent:

* the **proposed** working copy, ``<state>/agents/<name>/config`` (``agent.nix``,
  ``prompt.md``, ``settings.toml``). The manager sees it at ``/agents/<name>/config``,
  edits and commits there. The hive treats it as *untrusted*: the manager controls its
  ``.git/config`` and hooks, so the hive never runs git commands in it except
  ``upload-pack`` (through ``fetch`` / ``ls-remote`` from the hive's side), which git
  documents as safe against the repository it serves.
* the **applied** repo, ``<state>/repos/<name>.git`` (bare, hive-owned, outside the
  manager's ``/agents`` bind). It holds ``refs/hive/applied`` — moved only by an approval
  (or an operator's own spawn) — and pins of the commits under review. Reviewed commits
  are fetched into it at request time, so what the operator reviewed is what gets
  applied even if the manager rewrites its branch afterwards.

Every git command runs with the system and global config replaced by a hive-owned file
(identity, ``safe.directory``, no hooks, no auto-gc), so the host's git setup and a bare
CI machine behave the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from hivetui.core import beneath
from hivetui.core.bounded import quoted
from hivetui.core.errors import ConfigError, RepoError
from hivetui.core.paths import StatePaths, ensure_private_dir, share_owner, write_private_file
from hivetui.core.settings import AgentSettings

log = logging.getLogger(__name__)

APPLIED_REF = "refs/hive/applied"
PIN_PREFIX = "refs/hive/approvals/"
FILES = ("agent.nix", "prompt.md", "settings.toml")
GIT_TIMEOUT_S = 60.0
MAX_DIFF = 1_000_000
#: who the manager's commits in the proposed repo are by (set in the repo, not globally)
PROPOSED_IDENTITY = ("hive manager", "manager@hive.invalid")
HIVE_IDENTITY = ("hive", "hive@hive.invalid")
DRAFT_META = "hive-draft.json"

# a commit as the manager may name it: a sha (full or abbreviated) or a branch / HEAD
_COMMIT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
_FULL_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ABBREV_RE = re.compile(r"[0-9a-f]{4,64}")

_GITCONFIG = """\
# written by hivetui: the only global git config its git commands see
[safe]
\tdirectory = *
[core]
\thooksPath = /dev/null
\tfsmonitor = false
[gc]
\tauto = 0
[maintenance]
\tauto = false
[init]
\tdefaultBranch = main
[advice]
\tdetachedHead = false
"""


def agent_nix_template(name: str) -> str:
    return f"""\
# Extra NixOS configuration for agent {name}'s container (h-{name}).
# The hive's own knobs (runtime, model, allowed tools, MCP servers, packages) live in
# settings.toml; put anything else the container needs here.
{{ pkgs, ... }}:
{{
  # environment.systemPackages = [ pkgs.ripgrep ];
}}
"""


def prompt_template(name: str, role: str = "worker") -> str:
    return f"""\
# {name}

You are {name}, a {role} agent of the hive. Your manager and the operator reach you
through the hive's message bus. Keep your notes in /state.
"""


def default_files(name: str, settings: AgentSettings, role: str = "worker") -> dict[str, str]:
    """The default config of a new agent: what a one-shot spawn and a draft start from."""
    return {"agent.nix": agent_nix_template(name), "prompt.md": prompt_template(name, role),
            "settings.toml": settings.to_toml()}


def check_commit_name(commit: object) -> str:
    if not isinstance(commit, str) or _COMMIT_RE.fullmatch(commit) is None or ".." in commit:
        shown = repr(commit)[:60]
        raise RepoError(f"invalid commit {shown}: give a commit sha (full or abbreviated) "
                        "or a branch name of the agent's config repo")
    return commit


async def _reap(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


class ConfigRepos:
    """Creates, reads and moves the per-agent config repos."""

    def __init__(self, paths: StatePaths, git: str = "git") -> None:
        self.paths = paths
        self.git_program = git
        self.root = paths.root / "repos"
        self._locks: dict[str, asyncio.Lock] = {}

    # --- places ------------------------------------------------------------------
    def applied_dir(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def proposed_dir(self, name: str) -> Path:
        return self.paths.agent_config(name)

    @property
    def gitconfig(self) -> Path:
        return self.root / "gitconfig"

    def lock(self, name: str) -> asyncio.Lock:
        """Serialises fetches into (and ref moves of) one agent's applied repo."""
        return self._locks.setdefault(name, asyncio.Lock())

    # --- running git ---------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update({
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(self.gitconfig),
            "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
            "GIT_AUTHOR_NAME": HIVE_IDENTITY[0], "GIT_AUTHOR_EMAIL": HIVE_IDENTITY[1],
            "GIT_COMMITTER_NAME": HIVE_IDENTITY[0], "GIT_COMMITTER_EMAIL": HIVE_IDENTITY[1],
        })
        return env

    def _prepare(self) -> None:
        if not self.gitconfig.exists():
            ensure_private_dir(self.root)
            write_private_file(self.gitconfig, _GITCONFIG)

    async def run(self, repo: Path | int, *args: str, stdin: str | None = None,
                  fds: tuple[int, ...] = ()) -> tuple[int, str, str]:
        """``git -C repo args…``: (exit status, stdout, stderr). ``repo`` may be a directory
        descriptor: git then works in that very directory, whatever its path leads to;
        ``fds`` are passed on too (as ``/proc/self/fd/<n>`` in ``args``)."""
        self._prepare()
        where, fds = (f"/proc/self/fd/{repo}", (repo, *fds)) if isinstance(repo, int) else \
            (str(repo), fds)
        argv = [self.git_program, "-C", where, *args]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else
                asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._env(), pass_fds=fds)
        except FileNotFoundError as exc:
            raise RepoError(f"git is not installed ({self.git_program!r} not found); config "
                            "repos need the git CLI") from exc
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), GIT_TIMEOUT_S)
        except TimeoutError as exc:
            await _reap(proc)
            raise RepoError(f"git {args[0]} in {repo} took over {GIT_TIMEOUT_S:.0f}s and was "
                            "stopped") from exc
        except BaseException:
            await _reap(proc)
            raise
        rc = proc.returncode if proc.returncode is not None else -1
        log.debug("git %s -> %s", " ".join(args[:3]), rc)
        return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    async def git(self, repo: Path | int, *args: str, stdin: str | None = None) -> str:
        """Like :meth:`run`, raising RepoError (with git's own last line) on failure."""
        rc, out, err = await self.run(repo, *args, stdin=stdin)
        if rc != 0:
            last = (err.strip().splitlines() or [f"exit status {rc}"])[-1]
            raise RepoError(f"git {args[0]} failed in {repo}: {last}")
        return out

    # --- the applied repo ------------------------------------------------------------
    def has_applied_repo(self, name: str) -> bool:
        return (self.applied_dir(name) / "HEAD").exists()

    async def ensure_applied_repo(self, name: str) -> Path:
        bare = self.applied_dir(name)
        if not self.has_applied_repo(name):
            self._prepare()
            await self.git(self.root, "init", "-q", "--bare", str(bare))
        return bare

    async def resolve(self, name: str, rev: str) -> str | None:
        """The full sha of commit ``rev`` in the applied repo, or None."""
        if not self.has_applied_repo(name):
            return None
        rc, out, _ = await self.run(self.applied_dir(name), "rev-parse", "-q", "--verify",
                                    f"{rev}^{{commit}}")
        return out.strip() if rc == 0 else None

    async def applied(self, name: str) -> str | None:
        """The commit ``refs/hive/applied`` points at, or None."""
        return await self.resolve(name, APPLIED_REF)

    async def move_applied(self, name: str, new: str | None, expected: str | None) -> None:
        """Compare-and-swap ``refs/hive/applied`` from ``expected`` (None: absent) to ``new``
        (None: delete). Refused if the ref moved meanwhile."""
        bare = self.applied_dir(name)
        args = ("update-ref", "-m", "hive approval")
        if new is None:
            await self.git(bare, *args, "-d", APPLIED_REF, *([expected] if expected else []))
        else:
            await self.git(bare, *args, APPLIED_REF, new, expected or "")
        log.info("%s: applied config %s -> %s", name, expected, new)

    async def pin(self, name: str, approval_id: int, sha: str) -> None:
        await self.git(self.applied_dir(name), "update-ref", f"{PIN_PREFIX}{approval_id}", sha)

    async def unpin(self, name: str, approval_id: int) -> None:
        if self.has_applied_repo(name):
            await self.run(self.applied_dir(name), "update-ref", "-d",
                           f"{PIN_PREFIX}{approval_id}")

    async def read_file(self, name: str, rev: str, path: str) -> str | None:
        """``path`` as of commit ``rev`` in the applied repo; None if either is missing."""
        if not self.has_applied_repo(name):
            return None
        rc, out, _ = await self.run(self.applied_dir(name), "cat-file", "blob", f"{rev}:{path}")
        return out if rc == 0 else None

    async def applied_file(self, name: str, path: str) -> str | None:
        return await self.read_file(name, APPLIED_REF, path)

    async def settings_at(self, name: str, sha: str) -> AgentSettings:
        """The settings of commit ``sha``; RepoError if settings.toml is missing or bad."""
        text = await self.read_file(name, sha, "settings.toml")
        if text is None:
            raise RepoError(f"commit {sha[:12]} of {name}'s config has no settings.toml; "
                            "every config commit must carry one")
        try:
            return AgentSettings.from_toml(text)
        except ConfigError as exc:
            raise RepoError(f"settings.toml at commit {sha[:12]} of {name}'s config is "
                            f"invalid: {exc}") from exc

    async def empty_tree(self, name: str) -> str:
        return (await self.git(self.applied_dir(name), "mktree", stdin="")).strip()

    async def diff(self, name: str, old: str | None, new: str) -> str:
        """The diff from ``old`` (None: the empty tree) to ``new``, capped at MAX_DIFF."""
        base = old if old is not None else await self.empty_tree(name)
        text = await self.git(self.applied_dir(name), "diff", "--no-color", "--no-ext-diff",
                              "--no-textconv", base, new)
        if len(text) > MAX_DIFF:
            text = text[:MAX_DIFF] + f"\n… diff truncated ({len(text)} characters in all)\n"
        return text

    async def build_commit(self, name: str, files: dict[str, str], message: str) -> str:
        """A commit of exactly ``files`` (no parent), made in the applied repo."""
        bare = await self.ensure_applied_repo(name)
        entries = []
        for path in sorted(files):
            blob = (await self.git(bare, "hash-object", "-w", "--stdin",
                                   stdin=files[path])).strip()
            entries.append(f"100644 blob {blob}\t{path}\n")
        tree = (await self.git(bare, "mktree", stdin="".join(entries))).strip()
        return (await self.git(bare, "commit-tree", tree, "-m", message)).strip()

    async def import_commit(self, name: str, commit: str) -> str:
        """Fetch ``commit`` from the proposed repo into the applied repo; its full sha.

        Raises RepoError naming the commit when the proposed repo does not have it.
        """
        check_commit_name(commit)
        where = f"/agents/{name}/config"
        if not (self.proposed_dir(name) / ".git").exists():
            raise RepoError(f"{name} has no proposed config repo at {where}")
        bare = await self.ensure_applied_repo(name)
        async with self.lock(name), self._proposed_copy(name) as copy:
            if _FULL_SHA_RE.fullmatch(commit):
                rc, _, err = await self.run(bare, "fetch", "-q", "--no-tags", str(copy),
                                            commit)
                found = await self.resolve(name, commit) if rc == 0 else None
            else:
                # a branch, HEAD or an abbreviated sha: bring the repo's refs over, look there
                rc, _, err = await self.run(
                    bare, "fetch", "-q", "--no-tags", "--prune", str(copy),
                    "+refs/heads/*:refs/proposed/heads/*", "+HEAD:refs/proposed/HEAD")
                found = None
                if rc == 0:
                    revs = [f"refs/proposed/heads/{commit}", f"refs/proposed/{commit}"]
                    if _ABBREV_RE.fullmatch(commit):
                        revs.append(commit)
                    for rev in revs:
                        found = await self.resolve(name, rev)
                        if found:
                            break
        if found is None:
            detail = ""
            if rc != 0 and "not our ref" not in err and "couldn't find" not in err:
                detail = f" (git: {(err.strip().splitlines() or [''])[-1]})"
            raise RepoError(f"no commit {quoted(commit)} in {name}'s config repo ({where}); "
                            f"commit your change there first{detail}")
        return found

    # --- the proposed working copy -----------------------------------------------------
    async def create_proposed(self, name: str, sha: str) -> None:
        """A new proposed working copy at commit ``sha`` of the applied repo.

        Refused if the directory exists already (the manager could have planted a
        ``.git`` there: the hive never runs git in a repo it did not just create).
        """
        agents = self.paths.agents
        # agents/ is the manager's: git works on a descriptor of what the hive just made
        proposed = await asyncio.to_thread(self._new_proposed_dir, name)
        try:
            await self.git(proposed, "init", "-q", "-b", "main")
            await self.git(proposed, "config", "user.name", PROPOSED_IDENTITY[0])
            await self.git(proposed, "config", "user.email", PROPOSED_IDENTITY[1])
            await self.git(proposed, "fetch", "-q", "--no-tags", str(self.applied_dir(name)),
                           sha)
            await self.git(proposed, "checkout", "-q", "-B", "main", sha)
        finally:
            os.close(proposed)
        # the manager edits it: owned like the rest of its view, even if it runs already
        await asyncio.to_thread(share_owner, agents, f"{name}/config")

    def _new_proposed_dir(self, name: str) -> int:
        """Make ``agents/<name>/config`` (it must not exist) and return its descriptor."""
        where = self.proposed_dir(name)
        beneath.make_dirs(self.paths.agents, name)
        with beneath.open_dir(self.paths.agents, name) as parent:
            try:
                os.mkdir("config", 0o755, dir_fd=parent)
            except FileExistsError as exc:
                raise RepoError(f"{where} exists already; purge the agent or remove it") \
                    from exc
            fd = beneath.open_child(parent, "config", str(where))
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or os.listdir(fd):
            os.close(fd)
            raise RepoError(f"{where} was replaced while the hive created it; the hive "
                            "never runs git in a repo it did not just create")
        return fd

    @contextlib.asynccontextmanager
    async def _proposed_copy(self, name: str) -> AsyncIterator[Path]:
        """A copy of the proposed repo's ``.git`` made without following a link: links are
        left out, and so are the files by which git reads other repositories (a gitfile,
        ``commondir``, alternates), so fetching from it reaches only what the manager
        wrote, whoever the core runs as."""
        self._prepare()
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, f".import-{name}-", "",
                                           str(self.root)))
        try:
            try:
                await asyncio.to_thread(beneath.copy_plain_tree, self.paths.agents,
                                        f"{name}/config/.git", tmp, "repo.git", links=False)
            except (beneath.PlantedLinkError, FileNotFoundError) as exc:
                raise RepoError(f"{name}'s proposed config repo (/agents/{name}/config/.git)"
                                " is not a plain git directory") from exc
            for elsewhere in ("commondir", "objects/info/alternates"):
                (tmp / "repo.git" / elsewhere).unlink(missing_ok=True)
            yield tmp / "repo.git"
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp)

    @contextlib.asynccontextmanager
    async def _proposed_remote(self, name: str) -> AsyncIterator[tuple[list[str], tuple[int]]]:
        """The manager's proposed repo as git's remote (arguments, fds to pass), to read its
        HEAD: reached by a descriptor opened without following a link, so its path cannot
        be redirected, and served, when the core is root, by an upload-pack running as the
        manager's uid outside (the owner of agents/), so a gitfile or a link inside the repo
        reaches nothing the manager could not read itself."""
        try:
            with beneath.open_dir(self.paths.agents, f"{name}/config") as fd:
                yield [*self._upload_pack(), f"/proc/self/fd/{fd}"], (fd,)
        except beneath.PlantedLinkError as exc:
            raise RepoError(f"{name}'s proposed config repo (/agents/{name}/config) is not a "
                            "plain directory") from exc

    def _upload_pack(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        owner = self.paths.agents.stat()
        if owner.st_uid == 0:
            return []
        return [f"--upload-pack=env HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent "
                f"GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null setpriv "
                f"--reuid={owner.st_uid} --regid={owner.st_gid} --clear-groups -- "
                f"{self.git_program} upload-pack"]

    async def proposed_head(self, name: str) -> str:
        """The proposed repo's HEAD commit ('' if it has none), read via upload-pack."""
        try:
            async with self._proposed_remote(name) as (remote, fds):
                rc, out, _ = await self.run(self.root, "ls-remote", *remote, "HEAD", fds=fds)
        except (RepoError, FileNotFoundError):
            return ""
        if rc != 0:
            return ""
        return out.split("\t", 1)[0].strip() if out.strip() else ""

    # --- whole repos -------------------------------------------------------------------
    async def create(self, name: str, files: dict[str, str], message: str, *,
                     apply: bool) -> str:
        """Applied repo + proposed working copy at a new commit of ``files``; the sha.

        With ``apply`` the commit also becomes ``refs/hive/applied`` (it must be absent).
        """
        sha = await self.build_commit(name, files, message)
        await self.create_proposed(name, sha)
        if apply:
            await self.move_applied(name, sha, None)
        return sha

    async def ensure(self, name: str, settings: AgentSettings, role: str = "worker") -> None:
        """Give an agent spawned without an approval (the operator's own spawn) a repo.

        Its applied config is the default one; an existing applied config is kept, an
        existing proposed repo (a draft) is left alone.
        """
        if self.has_applied_repo(name) and await self.applied(name) is not None:
            return
        sha = await self.build_commit(name, default_files(name, settings, role),
                                      f"default config for {name} (operator spawn)")
        if not self.proposed_dir(name).exists():
            await self.create_proposed(name, sha)
        await self.move_applied(name, sha, None)

    def write_draft_meta(self, name: str, requested_by: str) -> None:
        write_private_file(self.applied_dir(name) / DRAFT_META,
                           json.dumps({"created_at": time.time(), "requested_by": requested_by}))

    def draft_created_at(self, name: str) -> float:
        try:
            data = json.loads((self.applied_dir(name) / DRAFT_META).read_text("utf-8"))
            return float(data["created_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.proposed_dir(name).stat().st_mtime

    def clear_stale_locks(self) -> list[Path]:
        """Remove the lock files a core killed in the middle of a git command left in the
        applied repos (only the core writes there, so at start every lock is stale);
        otherwise every later ref move in that repo would fail. The paths removed."""
        removed = []
        for bare in sorted(self.root.glob("*.git")) if self.root.is_dir() else []:
            for lock in (*bare.glob("*.lock"), *(bare / "refs").rglob("*.lock")):
                if lock.is_file() and not lock.is_symlink():
                    lock.unlink()
                    removed.append(lock)
                    log.warning("removed %s, left by a core that died during a git command",
                                lock)
        return removed

    async def remove(self, name: str) -> None:
        """Delete the applied repo (purge)."""
        bare = self.applied_dir(name)
        if bare.exists():
            await asyncio.to_thread(shutil.rmtree, bare)
        self._locks.pop(name, None)
