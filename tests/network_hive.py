"""A worker's network, tried from inside its real local-backend container.

``python -m tests.network_hive STATE_DIR`` runs a hive core as the calling user (the tests run
it as root and, through setpriv, as an ordinary user) with host-side services the container
must not reach directly: a TCP listener on every host address (the host's loopback services
and an outside address) and an HTTP server on the host's loopback, which the worker's
settings.toml allows (``network.allow``) through the core's egress proxy. It spawns the
scripted echo worker w1 and:

- sends it a message from a probe agent (the echo comes back only if the harness reaches
  the bridge through its forwarded port);
- from inside w1, connects to the listener on the host's loopback and on an outside address,
  fetches the allowed server through the proxy (plain HTTP and CONNECT), tries the listener
  through the proxy (not allowed: both forms), and reads its own mountinfo.

Prints one JSON line (``REPORT {...}``): what each attempt got, the core's denial count, the
telemetry series and the log lines about it.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hivetui.core.config import HiveConfig
from hivetui.core.operator import agent_view
from hivetui.core.repos import default_files
from hivetui.core.settings import NetworkSettings
from hivetui.core.tool_surface import harness_url
from hivetui.node import HiveNode
from tests.mcp_util import agent_client

_INSIDE = r"""
import http.client, json, os, socket, sys, urllib.error, urllib.request
t = json.loads(sys.argv[1])
out = {"env_proxy": os.environ.get("HTTPS_PROXY"), "env_no_proxy": os.environ.get("NO_PROXY")}
# the forwarded services are direct (NO_PROXY); the host's own loopback is a target here
for key in ("NO_PROXY", "no_proxy"):
    os.environ.pop(key, None)

def connect(host, port):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        return "CONNECTED"
    except OSError as exc:
        return f"{type(exc).__name__} {exc.errno}"
    finally:
        s.close()

def plain(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(
        {"http": os.environ["HTTP_PROXY"]}))
    try:
        with opener.open(url, timeout=10) as r:
            return f"{r.status} {r.read().decode()}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()}"

def tunnel(port, path):
    c = http.client.HTTPConnection("127.0.0.1", t["proxy_port"], timeout=10)
    c.set_tunnel("127.0.0.1", port)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return f"{r.status} {r.read().decode()}"
    except OSError as exc:
        return f"{type(exc).__name__} {exc}"

out["host_loopback"] = connect("127.0.0.1", t["listener"])
out["host_address"] = connect(t["host_ip"], t["listener"]) if t["host_ip"] else "NO ADDRESS"
out["allowed_plain"] = plain(f"http://127.0.0.1:{t['http']}/plain")
out["allowed_connect"] = tunnel(t["http"], "/tunnel")
out["denied_plain"] = plain(f"http://127.0.0.1:{t['listener']}/")
out["denied_connect"] = tunnel(t["listener"], "/")
with open("/proc/self/mountinfo") as fh:
    out["mountinfo"] = fh.read()
print("RESULT " + json.dumps(out))
"""


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def host_services() -> Iterator[tuple[int, int]]:
    """(a bare TCP listener on every host address, an HTTP server on the host loopback)."""
    listener = socket.create_server(("0.0.0.0", 0), backlog=64)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        listener.close()


def host_ip() -> str:
    """An address of this host other than loopback ("" when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route is chosen
        except OSError:
            return ""
        address = str(probe.getsockname()[0])
    return "" if address.startswith("127.") else address


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def allow(node: HiveNode, name: str, entries: tuple[str, ...]) -> None:
    """Apply a config commit whose settings.toml allows ``entries`` (as an approved
    apply_commit leaves it)."""
    lifecycle = node.hive.lifecycle
    assert lifecycle is not None
    settings = (await lifecycle.settings_for(node.hive.registry.get(name))).model_copy(
        update={"network": NetworkSettings(allow=entries)})
    sha = await lifecycle.repos.build_commit(name, default_files(name, settings),
                                             "allow the test server")
    await lifecycle.repos.move_applied(name, sha, await lifecycle.repos.applied(name))


async def echo_round_trip(node: HiveNode, name: str, timeout: float = 30.0) -> bool:
    await node.hive.registry.create("probe", runtime="scripted:echo", model="m")
    token = (node.paths.agent_run("probe") / "token").read_text().strip()
    async with agent_client(harness_url(node.bridge.url), token) as probe:
        await probe.call("send", to=name, body="ping through the forward")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in (await probe.call("recv", wait_s=1.0, max=10))["messages"]:
                if m["sender"] == name and "ping through the forward" in m["body"]:
                    return True
    return False


def _python() -> str:
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


async def scenario(state_dir: Path) -> dict[str, Any]:
    lines = _Lines()
    logging.getLogger("hivetui.core.egress").addHandler(lines)
    with host_services() as (listener, http_port):
        async with HiveNode(state_dir, HiveConfig()) as node:
            try:
                lifecycle = node.hive.lifecycle
                assert lifecycle is not None
                await lifecycle.spawn("w1", runtime="scripted:echo",
                                      model=node.hive.approvals.default_model, start=False)
                await allow(node, "w1", (f"127.0.0.1:{http_port}",))
                await lifecycle.start("w1")
                report: dict[str, Any] = {"echo": await echo_round_trip(node, "w1")}
                targets = {"listener": listener, "http": http_port, "host_ip": host_ip(),
                           "proxy_port": 7803}
                proc = await asyncio.create_subprocess_exec(
                    *lifecycle.backend.shell_argv("w1"), "-c", 'exec "$1" -c "$2" "$3"', "sh",
                    _python(), _INSIDE, json.dumps(targets),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
                out = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
                result = next((line[len("RESULT "):] for line in out.splitlines()
                               if line.startswith("RESULT ")), None)
                if result is None:
                    raise AssertionError(f"the inside script did not run: {out[-2000:]}")
                report |= json.loads(result)
                node.hive.egress.flush()
                await node.hive.telemetry.flush()
                series = await node.hive.telemetry.query("w1", keys=["egress_denied"])
                report |= {"targets": targets,
                           "agent_state": str(node.paths.agent_state("w1").resolve()),
                           "denied": node.hive.egress.denied["w1"],
                           "view_denied": agent_view(node.hive,
                                                     node.hive.registry.get("w1")).egress_denied,
                           "telemetry_denied": sum(v for _, v in series.get("egress_denied", [])),
                           "log": lines.lines}
                return report
            finally:
                await node.stop_all()
                logging.getLogger("hivetui.core.egress").removeHandler(lines)


def main() -> None:
    report = asyncio.run(scenario(Path(sys.argv[1])))
    print("REPORT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
