"""Start the SSH server as a service of a running hive node."""

from __future__ import annotations

from pathlib import Path

from hivetui.node import HiveNode
from hivetui.ssh.server import SSHServer


async def start_ssh(node: HiveNode, listen: str | None = None,
                    authorized_keys: Path | None = None) -> SSHServer:
    server = SSHServer.from_config(
        node.config.ssh, state_dir=node.paths.root, socket=node.control.path,
        tokens=node.sessions, audit=node.hive.audit, listen=listen,
        authorized_keys=authorized_keys,
    )
    node.hive.add_service("ssh", server.run)
    await server.ready()
    return server
