"""An agent that attacks its hive from inside its real local-backend container.

``python -m tests.attack_hive STATE_DIR CANARY...`` runs a hive core as the calling user
(the tests run it as root and, through setpriv, as an ordinary user), spawns the workers
w1 and w2 and, from inside w1's container, tries every way out: the control socket (at its
host path, and once more through a bind that hands the socket's directory to the
container, so the operator check itself is exercised), the store, the other agent's token,
the canary files named on the command line, and every unix socket it can find. Prints one
JSON line: what each attempt got.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from hivetui.core.config import HiveConfig
from hivetui.core.operator import Operator, OperatorSession
from hivetui.core.ports import Bind
from hivetui.node import HiveNode

#: where w1's container sees the control socket's directory (a deliberate leak)
LEAK = "/leak"

_ATTACK = r"""
import json, os, socket, stat, sys
targets = json.loads(sys.argv[1])

def read(path):
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return "READ"
    except OSError as exc:
        return type(exc).__name__

def control(path):
    answer = b""
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(path)
        for request in (b'{"id": 1, "op": "hello", "args": {}}\n',
                        b'{"id": 2, "op": "stop", "args": {"name": "w2"}}\n'):
            try:
                s.sendall(request)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused at once and closed: its answer is still there to read
            line = b""
            while not line.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                line += chunk
            answer += line
            if not line or not json.loads(line).get("ok"):
                break
        return "ANSWERED " + answer.decode(errors="replace")[:400]
    except OSError as exc:
        return type(exc).__name__ + (" after ANSWERED " + answer.decode() if answer else "")

def sockets():
    found = []
    for top, dirs, files in os.walk("/"):
        if top in ("/proc", "/sys", "/usr", "/nix"):
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(top, name)
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    found.append(path)
            except OSError:
                pass
    return found

out = {key: read(path) for key, path in targets["files"].items()}
out["control"] = control(targets["control"])
out["leaked_control"] = control(targets["leaked_control"])
out["sockets"] = sockets()
print("RESULT " + json.dumps(out))
"""


async def _leaky_worker(node: HiveNode, name: str) -> None:
    """Spawn ``name`` stopped, bind the control socket's directory into it, start it."""
    lifecycle = node.hive.lifecycle
    assert lifecycle is not None
    agent = await lifecycle.spawn(name, runtime="scripted:echo",
                                  model=node.hive.approvals.default_model, start=False)
    spec = await lifecycle.spec_for(agent)
    leak = Bind(node.paths.control_socket.parent, LEAK, writable=False)
    await lifecycle.backend.create(dataclasses.replace(
        spec, extra_binds=(*spec.extra_binds, leak)))
    await lifecycle.start(name)


def _python() -> str:
    """A python any container uid may run (the attack needs only the standard library)."""
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


async def attack(state_dir: Path, canaries: list[str]) -> dict[str, Any]:
    async with HiveNode(state_dir, HiveConfig()) as node:
        try:
            api = OperatorSession(node.hive, Operator("tester"))
            await api.spawn("w2", "scripted:echo")
            await _leaky_worker(node, "w1")
            paths = node.paths
            files = {"own_token": "/run/hive/token", "store": str(paths.db),
                     "other_token": str(paths.agent_run("w2") / "token"),
                     "hive_log": str(paths.log_file)}
            files |= {f"canary{i}": path for i, path in enumerate(canaries)}
            targets = {"files": files, "control": str(paths.control_socket),
                       "leaked_control": f"{LEAK}/{paths.control_socket.name}"}
            backend = node.hive.lifecycle.backend  # type: ignore[union-attr]
            proc = await asyncio.create_subprocess_exec(
                *backend.shell_argv("w1"), "-c", 'exec "$1" -c "$2" "$3"', "sh",
                _python(), _ATTACK, json.dumps(targets),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
            result = next((line[len("RESULT "):] for line in out.splitlines()
                           if line.startswith("RESULT ")), None)
            if result is None:
                raise AssertionError(f"the attack did not run: {out[-2000:]}")
            report: dict[str, Any] = json.loads(result)
            report["w2_state"] = node.hive.registry.get("w2").state
            return report
        finally:
            await node.stop_all()


def main() -> None:
    report = asyncio.run(attack(Path(sys.argv[1]), sys.argv[2:]))
    print("REPORT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
