"""The ``nixos`` backend: one imperative NixOS container ``h-<name>`` per agent.

Facts it relies on (reference.md, "NixOS containers"): ``nixos-container
create|start|stop|restart|destroy|update|list|root-login``; imperative containers take
their bind mounts from ``EXTRA_NSPAWN_FLAGS`` (and ``PRIVATE_USERS``) in
``/etc/nixos-containers/h-<name>.conf``; the unit ``container@h-<name>.service`` has
``Restart=on-failure``; the running set comes from ``machinectl list -o json`` (running
machines only), else ``systemctl list-units 'container@*' --all --output=json``; logs from
``journalctl -M h-<name> -o json`` (the container's journal, only while it runs), else
``journalctl -u container@h-<name>.service`` (host side).

Every command path is configurable (tests point them at fakes). A failed command raises
:class:`ContainerError` carrying its stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shlex
import shutil
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import hivetui
from hivetui.containers import subproc
from hivetui.containers.nix_render import nspawn_conf, write_agent_flake
from hivetui.core.errors import ContainerError
from hivetui.core.names import container_name, validate_agent_name
from hivetui.core.ports import ContainerExit, ContainerSpec

log = logging.getLogger(__name__)

PREFIX = "h-"
CONF_KEYS = ("PRIVATE_USERS", "EXTRA_NSPAWN_FLAGS")
#: Journal bytes ``follow_logs`` buffers before it stops reading journalctl's output.
FOLLOW_BUFFER = 256 * 1024


def default_hivetui_flake() -> str | None:
    """``$HIVETUI_FLAKE``, else the source tree's ``nix/`` flake if there is one."""
    env = os.environ.get("HIVETUI_FLAKE")
    if env:
        return env
    source = Path(hivetui.__file__).resolve().parent.parent / "nix"
    return f"path:{source}" if (source / "flake.nix").is_file() else None


def agent_of(machine: str) -> str | None:
    return machine[len(PREFIX):] if machine.startswith(PREFIX) else None


def parse_machinectl(text: str) -> set[str]:
    """Agents among ``machinectl list -o json`` (it lists running machines only)."""
    machines: list[dict[str, Any]] = json.loads(text or "[]")
    return {a for m in machines if (a := agent_of(str(m.get("machine", "")))) is not None}


_UNIT = re.compile(r"^container@(.+)\.service$")


def parse_list_units(text: str) -> set[str]:
    """Agents whose ``container@h-<name>.service`` is active (systemctl list-units JSON)."""
    found = set()
    for unit in json.loads(text or "[]"):
        match = _UNIT.match(str(unit.get("unit", "")))
        if match and unit.get("active") == "active" and unit.get("sub") == "running":
            agent = agent_of(match.group(1))
            if agent is not None:
                found.add(agent)
    return found


def parse_show_restarts(text: str) -> dict[str, int]:
    """``systemctl show -p Id -p NRestarts UNIT…``: blank-line separated blocks."""
    counts: dict[str, int] = {}
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        match = _UNIT.match(props.get("Id", ""))
        agent = agent_of(match.group(1)) if match else None
        if agent is not None and props.get("NRestarts", "").isdigit():
            counts[agent] = int(props["NRestarts"])
    return counts


def journal_line(entry: Mapping[str, Any]) -> str:
    """One journal JSON entry as ``<UTC ISO-8601 ms>Z <identifier>[<pid>]: <message>``."""
    message = entry.get("MESSAGE", "")
    if isinstance(message, list):  # journald sends non-UTF-8 messages as byte arrays
        message = bytes(int(b) for b in message).decode("utf-8", errors="replace")
    micros = int(entry.get("__REALTIME_TIMESTAMP", 0))
    seconds, rest = divmod(micros, 1_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:03d}Z"
    ident = entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM") or "?"
    pid = entry.get("_PID") or entry.get("SYSLOG_PID")
    source = f"{ident}[{pid}]" if pid else str(ident)
    return f"{stamp} {source}: {message}"


def parse_journal(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        if raw.strip():
            lines.append(journal_line(json.loads(raw)))
    return lines


class NixosBackend:
    """nixos-container driven through asyncio subprocesses; poll-mode for crash_watch."""

    name = "nixos"
    #: containers get claude from their own Nix closure (agent.nix), not from the host
    host_programs = False

    def __init__(self, root: Path, *, hivetui_flake: str | None = None,
                 nixpkgs_flake: str | None = None, nixos_container: str = "nixos-container",
                 machinectl: str = "machinectl", journalctl: str = "journalctl",
                 systemctl: str = "systemctl",
                 conf_dir: Path = Path("/etc/nixos-containers"),
                 command_timeout: float = 1800.0) -> None:
        self.root = root  # one flake directory per agent: <root>/<name>/
        self.hivetui_flake = hivetui_flake or default_hivetui_flake()
        self.nixpkgs_flake = nixpkgs_flake
        self.cmd = {"nixos-container": nixos_container, "machinectl": machinectl,
                    "journalctl": journalctl, "systemctl": systemctl}
        self.conf_dir = conf_dir
        self.command_timeout = command_timeout

    # --- running commands ---------------------------------------------------------------
    async def _run(self, tool: str, *args: str, timeout: float | None = None) -> str:
        argv = [self.cmd[tool], *args]
        log.debug("nixos backend: %s", shlex.join(argv))
        try:
            done = await subproc.run(argv, timeout=timeout or self.command_timeout)
        except TimeoutError as exc:  # the child is killed and reaped by now
            raise ContainerError(f"`{shlex.join(argv)}` timed out") from exc
        except OSError as exc:
            raise ContainerError(f"cannot run {argv[0]}: {exc} (is this a NixOS host with "
                                 "boot.enableContainers?)") from exc
        out, err = done.stdout, done.stderr
        if done.returncode != 0:
            reason = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
            raise ContainerError(f"`{shlex.join(argv)}` failed (exit {done.returncode}): "
                                 f"{reason[-500:]}")
        return out.decode(errors="replace")

    # --- the protocol -------------------------------------------------------------------
    async def create(self, spec: ContainerSpec) -> None:
        """Render the agent's flake, ``nixos-container create`` (or ``update`` if it exists)."""
        validate_agent_name(spec.name)
        ref = self._render(spec)
        machine = container_name(spec.name)
        if machine in await self._configured():
            await self._run("nixos-container", "update", machine, "--flake", ref)
        else:
            await self._run("nixos-container", "create", machine, "--flake", ref)
        self._write_conf(spec)

    async def start(self, name: str) -> None:
        await self._run("nixos-container", "start", container_name(name))

    async def stop(self, name: str) -> None:
        await self._run("nixos-container", "stop", container_name(name))

    async def restart(self, name: str) -> None:
        await self._run("nixos-container", "restart", container_name(name))

    async def destroy(self, name: str) -> None:
        """``nixos-container destroy`` (stops it first); the agent's state dir stays."""
        machine = container_name(name)
        if machine in await self._configured():
            await self._run("nixos-container", "destroy", machine)
        flake_dir = self.root / validate_agent_name(name)
        if flake_dir.exists():
            await asyncio.to_thread(shutil.rmtree, flake_dir)

    async def rebuild(self, spec: ContainerSpec) -> None:
        """Re-render, ``nixos-container update`` (rebuild + switch); new binds need a restart."""
        validate_agent_name(spec.name)
        machine = container_name(spec.name)
        if machine not in await self._configured():
            await self.create(spec)
            return
        ref = self._render(spec)
        await self._run("nixos-container", "update", machine, "--flake", ref)
        if self._write_conf(spec) and spec.name in await self.running():
            await self.restart(spec.name)

    async def running(self) -> set[str]:
        """Agents whose container runs now: machinectl, else the container@ units.

        Poll-only: a container that crashed and was restarted by systemd between two
        polls stays in this set — see :meth:`restarts` for that case.
        """
        try:
            return parse_machinectl(await self._run("machinectl", "list", "-o", "json",
                                                    "--no-pager", timeout=30))
        except (ContainerError, ValueError) as exc:
            log.warning("nixos backend: machinectl failed (%s); asking systemctl", exc)
        return parse_list_units(await self._run(
            "systemctl", "list-units", "container@*", "--all", "--output=json", "--no-pager",
            timeout=30))

    async def restarts(self) -> dict[str, int]:
        """systemd's ``NRestarts`` of each agent container this backend made.

        It grows when ``Restart=on-failure`` brought a crashed container back by itself:
        a poller comparing two readings sees crashes that :meth:`running` cannot.
        """
        names = self._agents()
        if not names:
            return {}
        units = [f"container@{container_name(n)}.service" for n in names]
        return parse_show_restarts(await self._run("systemctl", "show", "-p", "Id", "-p",
                                                   "NRestarts", *units, timeout=30))

    def shell_argv(self, name: str) -> list[str]:
        return [self.cmd["nixos-container"], "root-login", container_name(name)]

    async def logs(self, name: str, lines: int) -> list[str]:
        """The container's journal; the host's unit journal if the container is down."""
        machine = container_name(name)
        try:
            text = await self._run("journalctl", "-M", machine, "-o", "json", "-n",
                                   str(lines), "--no-pager", timeout=30)
        except ContainerError as exc:
            log.debug("nixos backend: no container journal for %s (%s)", machine, exc)
            text = await self._run("journalctl", "-u", f"container@{machine}.service", "-o",
                                   "json", "-n", str(lines), "--no-pager", timeout=30)
        return parse_journal(text)[-lines:] if lines > 0 else []

    def follow_logs(self, name: str) -> AsyncIterator[str]:
        """New lines of the container's journal (``journalctl -f``) until cancelled."""
        return self._follow(container_name(name))

    async def _follow(self, machine: str) -> AsyncIterator[str]:
        argv = [self.cmd["journalctl"], "-M", machine, "-o", "json", "-n", "0", "-f",
                "--no-pager"]
        child = await subproc.Child.spawn(argv, limit=FOLLOW_BUFFER)
        try:
            while raw := await child.readline():
                if raw.strip():
                    yield journal_line(json.loads(raw))
            code = await child.wait()
            if code:
                raise ContainerError(f"`{shlex.join(argv)}` failed (exit {code}): "
                                     f"{child.stderr.decode(errors='replace').strip()[-500:]}")
        finally:  # closed, cancelled or failed: kill journalctl, close its pipes, reap it
            await child.aclose(kill_group=child.returncode is None)

    def exits(self) -> AsyncIterator[ContainerExit] | None:
        """None: this backend learns of exits only by polling :meth:`running`."""
        return None

    async def aclose(self) -> None:
        return None

    # --- internals ----------------------------------------------------------------------
    def _agents(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "flake.nix").exists())

    async def _configured(self) -> set[str]:
        """Machines ``nixos-container list`` knows (running or not)."""
        return set((await self._run("nixos-container", "list", timeout=60)).split())

    def _render(self, spec: ContainerSpec) -> str:
        if not self.hivetui_flake:
            raise ContainerError("the nixos backend needs the hivetui flake reference: set "
                                 "HIVETUI_FLAKE or pass hivetui_flake=")
        return write_agent_flake(self.root / spec.name, spec.name, spec.settings,
                                 state_dir=spec.state_dir, run_dir=spec.run_dir,
                                 hivetui_flake=self.hivetui_flake,
                                 nixpkgs_flake=self.nixpkgs_flake,
                                 extra_binds=spec.extra_binds, nix_module=spec.nix_module)

    def _write_conf(self, spec: ContainerSpec) -> bool:
        """Set our keys in ``<conf_dir>/h-<name>.conf``; True if it changed."""
        path = self.conf_dir / f"{container_name(spec.name)}.conf"
        values = nspawn_conf(spec.settings, state_dir=spec.state_dir, run_dir=spec.run_dir,
                             extra_binds=spec.extra_binds)
        try:
            old = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ContainerError(f"{path} is missing: nixos-container create should have "
                                 "written it") from exc
        kept = [line for line in old.splitlines()
                if line.split("=", 1)[0].strip() not in CONF_KEYS]
        for key in CONF_KEYS:
            if any(c in values[key] for c in '"\\$`\n'):
                raise ContainerError(f"{key} for {spec.name} holds a quote, backslash, $ or "
                                     "newline: bind paths must be plain")
            kept.append(f'{key}="{values[key]}"')  # systemd EnvironmentFile quoting
        new = "\n".join(kept) + "\n"
        if new == old:
            return False
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
        return True
