"""A fork server for crash tests: `hivetui serve` processes that start in a fraction of
a second, so a test can kill -9 and restart a real core many times.

Run as ``python -m tests.fork_serve``: it imports everything `hivetui serve` needs once,
then reads commands on stdin, one per line, and answers one line each:

* ``serve STATE OUT ENV_JSON`` -> forks a child that runs ``hivetui serve --state-dir
  STATE`` (``hivetui.cli.main``, the real entry point) with stdout and stderr appended to
  OUT and ``ENV_JSON`` added to its environment; answers the child's pid;
* ``reap PID`` -> waits for that child to end; answers its wait status.

The parent never starts an event loop or a thread, so forking it is safe.
"""

from __future__ import annotations

import json
import os
import sys

import hivetui.bridge.server  # the slow imports, paid once
import hivetui.cli
import hivetui.node


def _child(state: str, out: str, env: dict[str, str]) -> None:
    os.setsid()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.environ.update(env)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    code = 1
    try:
        code = hivetui.cli.main(["serve", "--state-dir", state])
    finally:
        os._exit(code)


def main() -> None:
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if command == "serve":
            state, out, env = rest.split(" ", 2)
            pid = os.fork()
            if pid == 0:
                _child(state, out, json.loads(env))
            print(pid, flush=True)
        elif command == "reap":
            _, status = os.waitpid(int(rest), 0)
            print(status, flush=True)
        else:
            print(f"unknown command {command!r}", flush=True)


if __name__ == "__main__":
    main()
