"""Fakes of nixos-container, machinectl, journalctl and systemctl (this machine has no NixOS).

They keep their state in ``$FAKE_NIXOS_STATE`` (``state.json``, guarded by a lock file),
record every command line in ``commands.log`` (one JSON array per line) and follow the
documented contract (reference.md, "NixOS containers"):

- ``nixos-container create NAME --flake REF``: names ≤ 11 chars, no ``_``; writes
  ``etc/nixos-containers/NAME.conf``; ``start|stop|restart|terminate|status|list``;
  ``destroy`` stops a running container first and refuses declarative ones; ``update
  NAME --flake REF``; ``root-login NAME`` only while it runs.
- ``machinectl list -o json --no-pager`` lists running machines only.
- ``systemctl list-units 'container@*' --all --output=json``, ``show -p Id -p NRestarts
  UNIT…``, ``is-active UNIT``.
- ``journalctl -M NAME -o json -n N [-f]`` (only while NAME runs) and ``journalctl -u
  container@NAME.service -o json -n N`` (host side, always).
- ``container@NAME.service`` has ``Restart=on-failure``: after :meth:`FakeNixos.crash`
  the unit is ``activating/auto-restart`` for ``restart_after`` seconds, then ``active``
  again with ``NRestarts`` + 1 — evaluated lazily from the clock by every command.
- ``$FAKE_NIXOS_HANG=<command>``: that command hangs (a wedged machined, a long nix build):
  it records its pid in ``hang.pid``, starts a child holding its stdout/stderr (pid in
  ``hang-child.pid``) and sleeps.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COMMANDS = ("nixos-container", "machinectl", "journalctl", "systemctl")


class FakeFailure(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _now_us() -> int:
    return int(time.time() * 1_000_000)


class State:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data: dict[str, Any] = {}

    @property
    def conf_dir(self) -> Path:
        return self.root / "etc" / "nixos-containers"

    @contextmanager
    def locked(self) -> Iterator[State]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "state.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.root / "state.json"
            self.data = json.loads(path.read_text()) if path.exists() else {
                "containers": {}, "machinectl_broken": False, "seq": 0}
            self._advance()
            yield self
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data))
            os.replace(tmp, path)

    def _advance(self) -> None:
        """systemd's Restart=on-failure, seen from the clock."""
        for name, c in self.data["containers"].items():
            if c.get("restart_at") is not None and time.time() >= c["restart_at"]:
                c["restart_at"] = None
                c["restarts"] += 1
                self._activate(name, c)

    def journal(self, c: dict[str, Any], kind: str, ident: str, message: str) -> None:
        self.data["seq"] += 1
        c[kind].append({"__REALTIME_TIMESTAMP": str(_now_us()), "MESSAGE": message,
                        "SYSLOG_IDENTIFIER": ident, "_PID": "1", "__SEQ": self.data["seq"]})

    def _activate(self, name: str, c: dict[str, Any]) -> None:
        c["active"] = "active"
        self.journal(c, "host_journal", "systemd", f"Started Container '{name}'.")
        self.journal(c, "journal", "systemd", "Welcome to NixOS!")

    def get(self, name: str) -> dict[str, Any]:
        c: dict[str, Any] | None = self.data["containers"].get(name)
        if c is None:
            raise FakeFailure(f"/run/current-system/sw/bin/nixos-container: container "
                              f"‘{name}’ does not exist")
        return c

    def start(self, name: str) -> None:
        c = self.get(name)
        if c["active"] != "active":
            c["restart_at"] = None
            self._activate(name, c)

    def stop(self, name: str) -> None:
        c = self.get(name)
        if c["active"] != "inactive":
            c["active"] = "inactive"
            c["restart_at"] = None
            self.journal(c, "host_journal", "systemd", f"Stopped Container '{name}'.")


def nixos_container(st: State, args: list[str]) -> str:
    if not args:
        raise FakeFailure("Usage: nixos-container list|create|destroy|start|stop|...")
    verb, rest = args[0], args[1:]
    if verb == "list":
        return "".join(f"{n}\n" for n in sorted(st.data["containers"]))
    if not rest:
        raise FakeFailure(f"nixos-container {verb}: missing container name")
    name = rest[0]
    if verb == "create":
        if len(name) > 11:
            raise FakeFailure(f"nixos-container: container name ‘{name}’ is too long "
                              "(at most 11 characters)")
        if "_" in name:
            raise FakeFailure(f"nixos-container: container name ‘{name}’ contains an "
                              "underscore, which is not allowed")
        if name in st.data["containers"]:
            raise FakeFailure(f"nixos-container: container ‘{name}’ already exists")
        flake = _flake(rest)
        st.data["containers"][name] = {"flake": flake, "declarative": False,
                                       "active": "inactive", "restarts": 0,
                                       "restart_at": None, "journal": [], "host_journal": []}
        st.conf_dir.mkdir(parents=True, exist_ok=True)
        (st.conf_dir / f"{name}.conf").write_text(
            "PRIVATE_NETWORK=0\nHOST_ADDRESS=\nLOCAL_ADDRESS=\nHOST_BRIDGE=\n"
            "HOST_PORT=\nAUTO_START=0\n")
        return f"host IP is 10.233.1.1, container IP is 10.233.1.2\n{name}\n"
    c = st.get(name)
    if verb == "start":
        st.start(name)
    elif verb in ("stop", "terminate"):
        st.stop(name)
    elif verb == "restart":
        st.stop(name)
        st.start(name)
    elif verb == "status":
        return "up\n" if c["active"] == "active" else "down\n"
    elif verb == "update":
        c["flake"] = _flake(rest)
        if c["active"] == "active":
            st.journal(c, "host_journal", "systemd", f"Reloading Container '{name}'.")
        return "building the system configuration...\n"
    elif verb == "destroy":
        if c["declarative"]:
            raise FakeFailure("nixos-container: cannot destroy declarative container "
                              "(remove it from your configuration.nix instead)")
        st.stop(name)
        del st.data["containers"][name]
        (st.conf_dir / f"{name}.conf").unlink(missing_ok=True)
    elif verb == "root-login":
        if c["active"] != "active":
            raise FakeFailure(f"nixos-container: container ‘{name}’ is not running")
        return "fake root shell\n"
    else:
        raise FakeFailure(f"nixos-container: unknown command {verb}")
    return ""


def _flake(rest: list[str]) -> str:
    if "--flake" not in rest or rest.index("--flake") + 1 >= len(rest):
        raise FakeFailure("nixos-container: --flake FLAKEREF#ATTR is required here")
    ref = rest[rest.index("--flake") + 1]
    path = ref.removeprefix("path:").split("#", 1)[0]
    if "#" not in ref or not (Path(path) / "flake.nix").is_file():
        raise FakeFailure(f"error: getting status of '{path}/flake.nix': No such file")
    return ref


def machinectl(st: State, args: list[str]) -> str:
    if st.data["machinectl_broken"]:
        raise FakeFailure("Failed to list machines: Connection timed out")
    if args[:3] != ["list", "-o", "json"]:
        raise FakeFailure(f"fake machinectl: unsupported {args}")
    return json.dumps([{"machine": n, "class": "container", "service": "systemd-nspawn",
                        "os": "nixos", "version": "24.11", "addresses": "10.233.1.2"}
                       for n, c in sorted(st.data["containers"].items())
                       if c["active"] == "active"]) + "\n"


def _unit_state(c: dict[str, Any]) -> tuple[str, str]:
    if c["active"] == "active":
        return "active", "running"
    if c.get("restart_at") is not None:
        return "activating", "auto-restart"
    if c["active"] == "failed":
        return "failed", "failed"
    return "inactive", "dead"


def systemctl(st: State, args: list[str]) -> str:
    units = {f"container@{n}.service": c for n, c in st.data["containers"].items()}
    if args[:2] == ["list-units", "container@*"] and "--output=json" in args:
        return json.dumps([{"unit": u, "load": "loaded", "active": _unit_state(c)[0],
                            "sub": _unit_state(c)[1], "description": f"Container '{u[10:-8]}'"}
                           for u, c in sorted(units.items())]) + "\n"
    if args and args[0] == "show":
        blocks = []
        for unit in [a for a in args[1:] if a.startswith("container@")]:
            c = units.get(unit)
            blocks.append(f"Id={unit}\nNRestarts={c['restarts'] if c else 0}\n")
        return "\n".join(blocks)
    if args and args[0] == "is-active":
        state = _unit_state(units[args[1]])[0] if args[1] in units else "inactive"
        if state != "active":
            raise FakeFailure(state, code=3)
        return "active\n"
    raise FakeFailure(f"fake systemctl: unsupported {args}")


def journalctl(st: State, args: list[str]) -> tuple[str, dict[str, Any] | None, int]:
    n = int(args[args.index("-n") + 1]) if "-n" in args else 10
    if "-M" in args:
        name = args[args.index("-M") + 1]
        c = st.data["containers"].get(name)
        if c is None or c["active"] != "active":
            raise FakeFailure(f"Failed to open journal: machine '{name}' is not running")
        kind = "journal"
    elif "-u" in args:
        unit = args[args.index("-u") + 1]
        c = st.data["containers"].get(unit.removeprefix("container@").removesuffix(".service"))
        if c is None:
            return "", None, 0  # journalctl prints nothing for an unknown unit
        kind = "host_journal"
    else:
        raise FakeFailure(f"fake journalctl: unsupported {args}")
    entries = c[kind][-n:] if n > 0 else []
    last = c[kind][-1]["__SEQ"] if c[kind] else 0
    out = "".join(json.dumps(e) + "\n" for e in entries)
    return out, ({"kind": kind, "name": args[args.index("-M") + 1]} if "-f" in args
                 and kind == "journal" else None), last


def _follow(st: State, follow: dict[str, Any], last: int) -> None:
    while True:
        time.sleep(0.05)
        with st.locked():
            c = st.data["containers"].get(follow["name"])
            fresh = [e for e in (c or {}).get(follow["kind"], []) if e["__SEQ"] > last]
        for e in fresh:
            sys.stdout.write(json.dumps(e) + "\n")
            last = e["__SEQ"]
        sys.stdout.flush()


def _hang(st: State) -> None:
    child = subprocess.Popen(["sleep", "60"])  # inherits our stdout and stderr
    (st.root / "hang-child.pid").write_text(str(child.pid))
    (st.root / "hang.pid").write_text(str(os.getpid()))
    time.sleep(60)


def main(command: str, args: list[str]) -> int:
    st = State(Path(os.environ["FAKE_NIXOS_STATE"]))
    st.root.mkdir(parents=True, exist_ok=True)
    with open(st.root / "commands.log", "a") as fh:
        fh.write(json.dumps([command, *args]) + "\n")
    if os.environ.get("FAKE_NIXOS_HANG") == command:
        _hang(st)
    follow = None
    last = 0
    try:
        with st.locked():
            if command == "nixos-container":
                out = nixos_container(st, args)
            elif command == "machinectl":
                out = machinectl(st, args)
            elif command == "systemctl":
                out = systemctl(st, args)
            else:
                out, follow, last = journalctl(st, args)
    except FakeFailure as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    sys.stdout.write(out)
    sys.stdout.flush()
    if follow is not None:
        _follow(st, follow, last)
    return 0


class FakeNixos:
    """Test-side handle: paths for the backend, recorded commands, crashes, log lines."""

    def __init__(self, state_dir: Path) -> None:
        self.state = State(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        # the fakes start with `#!/usr/bin/env python3`: make that this interpreter
        # (fast, same version) rather than whatever shim PATH holds
        self.python_dir = state_dir / "python-bin"
        self.python_dir.mkdir(exist_ok=True)
        link = self.python_dir / "python3"
        if not link.exists():
            link.symlink_to(sys.executable)

    @property
    def env(self) -> dict[str, str]:
        return {"FAKE_NIXOS_STATE": str(self.state.root),
                "PATH": f"{self.python_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def backend_kwargs(self) -> dict[str, Any]:
        return {"nixos_container": str(HERE / "nixos-container"),
                "machinectl": str(HERE / "machinectl"), "journalctl": str(HERE / "journalctl"),
                "systemctl": str(HERE / "systemctl"), "conf_dir": self.state.conf_dir}

    def hang_pids(self) -> tuple[int, int] | None:
        """(pid, child pid) of the hanging command (``$FAKE_NIXOS_HANG``) once it runs."""
        try:
            return (int((self.state.root / "hang.pid").read_text()),
                    int((self.state.root / "hang-child.pid").read_text()))
        except (FileNotFoundError, ValueError):
            return None

    def commands(self) -> list[list[str]]:
        path = self.state.root / "commands.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def clear_commands(self) -> None:
        (self.state.root / "commands.log").unlink(missing_ok=True)

    def container(self, name: str) -> dict[str, Any] | None:
        with self.state.locked() as st:
            c = st.data["containers"].get(name)
            return None if c is None else dict(c)

    def crash(self, name: str, status: int = 1, restart_after: float | None = 0.3) -> None:
        """The container's init dies; systemd restarts it after ``restart_after`` seconds."""
        with self.state.locked() as st:
            c = st.get(name)
            st.journal(c, "journal", "hivetui", f"fatal: exiting with status {status}")
            c["active"] = "failed"
            st.journal(c, "host_journal", "systemd", f"container@{name}.service: Main "
                       f"process exited, code=exited, status={status}/FAILURE")
            if restart_after is not None:
                c["restart_at"] = time.time() + restart_after
                st.journal(c, "host_journal", "systemd", f"container@{name}.service: "
                           "Scheduled restart job, restart counter is at "
                           f"{c['restarts'] + 1}.")

    def log(self, name: str, message: str, ident: str = "hivetui") -> None:
        with self.state.locked() as st:
            st.journal(st.get(name), "journal", ident, message)

    def break_machinectl(self, broken: bool = True) -> None:
        with self.state.locked() as st:
            st.data["machinectl_broken"] = broken

    def add_declarative(self, name: str) -> None:
        with self.state.locked() as st:
            st.data["containers"][name] = {"flake": "", "declarative": True,
                                           "active": "active", "restarts": 0,
                                           "restart_at": None, "journal": [],
                                           "host_journal": []}


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[0]).name, sys.argv[1:]))
