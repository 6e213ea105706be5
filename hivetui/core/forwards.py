"""The core's services as a container sees them: fixed loopback ports, forwarded over unix sockets.

A container has a network namespace of its own with loopback only. Each service of the core
it may reach is one row of :data:`FORWARDS`: a name, a fixed port inside, and whether the
core listens on one socket for every agent (``shared``: identity comes from the agent's
token) or one socket per agent (identity is the socket itself: the egress proxy).

Host side, every agent's run dir (bound read-only at ``/run/hive``) holds ``net/`` with one
socket per service: a shared service's socket (``<state>/run/<service>.sock``) is
hard-linked there, so a core that binds it anew after a restart links it again and the
container, which sees the directory and not the inode, reaches the new one. A per-agent
service listens at that path itself. Inside, the container's init (a forwarder in its
namespaces: :mod:`hivetui.containers.forward`) accepts ``127.0.0.1:<port>`` and splices to
``/run/hive/net/<service>.sock``. So what an agent is told (``bridge.json``, the proxy
variables) never changes, whatever port or path a core gets.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from hivetui.core.errors import ContainerError
from hivetui.core.paths import StatePaths

log = logging.getLogger(__name__)

#: inside a container: where the run dir's sockets are
INSIDE_NET_DIR = "/run/hive/net"
#: in each agent's run dir (host side)
NET_SUBDIR = "net"
#: what the container's environment says about its network: ``private`` (its own namespace,
#: the forwarded ports) or ``host`` (the host's network: the core's TCP addresses)
NET_ENV = "HIVETUI_NET"


@dataclass(frozen=True)
class Forward:
    service: str
    port: int  # 127.0.0.1:<port> inside every container
    shared: bool  # one socket for all agents (else one per agent, the socket is the identity)


FORWARDS: tuple[Forward, ...] = (
    Forward("bridge", 7801, shared=True),
    Forward("broker", 7802, shared=True),
    Forward("proxy", 7803, shared=False),
)


def forward(service: str) -> Forward:
    for row in FORWARDS:
        if row.service == service:
            return row
    raise KeyError(f"no forwarded service {service!r}")


def inside_url(service: str) -> str:
    """``http://127.0.0.1:<port>``: the service as every private-network container sees it."""
    return f"http://127.0.0.1:{forward(service).port}"


def inside_socket(service: str) -> str:
    return f"{INSIDE_NET_DIR}/{service}.sock"


def inside_forwards() -> list[tuple[int, str]]:
    """(port, socket) pairs the container's forwarder serves."""
    return [(row.port, inside_socket(row.service)) for row in FORWARDS]


def host_socket(paths: StatePaths, service: str) -> Path:
    """Where the core listens for a shared service."""
    return paths.run / f"{service}.sock"


def agent_socket(paths: StatePaths, agent: str, service: str) -> Path:
    """The socket a container reaches ``service`` through (host side)."""
    return paths.agent_run(agent) / NET_SUBDIR / f"{service}.sock"


def proxy_env() -> dict[str, str]:
    """The egress proxy for every program that honours the usual variables; the forwarded
    services themselves are reached directly."""
    url = inside_url("proxy")
    direct = "127.0.0.1,localhost"
    return {"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url,
            "NO_PROXY": direct, "no_proxy": direct}


def container_env(private: bool) -> dict[str, str]:
    """What a container's environment says of its network (and its proxy, when private)."""
    return {NET_ENV: "private", **proxy_env()} if private else {NET_ENV: "host"}


def net_dir(paths: StatePaths, agent: str) -> Path:
    """The agent's ``net/`` (created; its parent, the run dir, is the core's)."""
    path = paths.agent_run(agent) / NET_SUBDIR
    path.mkdir(mode=0o755, exist_ok=True)
    return path


def link_shared(paths: StatePaths, agent: str, service: str) -> bool:
    """Make the agent's ``net/<service>.sock`` the core's current socket of ``service``
    (atomically replaced); False when the core does not listen for it (yet)."""
    source = host_socket(paths, service)
    target = agent_socket(paths, agent, service)
    try:
        if os.path.samestat(os.lstat(source), os.lstat(target)):
            return True
    except FileNotFoundError:
        pass
    net_dir(paths, agent)
    tmp = target.with_name(target.name + ".new")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ContainerError(f"cannot link the {service} socket {source} into {target}: "
                             f"{exc.strerror} (run/ and secrets/ of the state dir must be on "
                             "one filesystem)") from exc
    os.replace(tmp, target)
    return True


def link_all(paths: StatePaths, agents: list[str], service: str | None = None) -> None:
    """Link every shared service (or only ``service``) into each agent's ``net/``."""
    for row in FORWARDS:
        if row.shared and service in (None, row.service):
            for agent in agents:
                if paths.agent_run(agent).is_dir():
                    link_shared(paths, agent, row.service)
