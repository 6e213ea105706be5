"""``hivetui harness``: the entry the CLI calls inside a container."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hivetui.core.backoff import Backoff
from hivetui.core.errors import HarnessError
from hivetui.core.forwards import NET_ENV
from hivetui.core.runtimes import CLAUDE_BIN_ENV
from hivetui.core.tool_surface import harness_url, model_url
from hivetui.harness.claude import ClaudeRuntime
from hivetui.harness.client import BridgeUnreachable, HiveClient
from hivetui.harness.loop import LoopConfig, TurnLoop
from hivetui.harness.runtime import AgentIdentity, Runtime
from hivetui.harness.scripted import make_scripted

log = logging.getLogger(__name__)

DEFAULT_RUN_DIR = Path("/run/hive")
DEFAULT_STATE_DIR = Path("/state")


def read_bridge(run_dir: Path) -> tuple[str, str]:
    """(url, token) from ``bridge.json`` and ``token`` in the run dir. A container on the
    host's network (``HIVETUI_NET=host``) takes ``host_url``, the core's own address; any
    other reaches the bridge at its fixed forwarded port (``url``)."""
    try:
        token = (run_dir / "token").read_text(encoding="utf-8").strip()
        data = json.loads((run_dir / "bridge.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise HarnessError(f"{exc.filename} is missing: the core writes the token and "
                           "bridge.json into the run dir before starting the harness") from exc
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{run_dir / 'bridge.json'} is not valid JSON: {exc}") from exc
    key = "host_url" if os.environ.get(NET_ENV) == "host" else "url"
    url = data.get(key) if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        raise HarnessError(f"{run_dir / 'bridge.json'} needs a string {key!r}")
    if not token:
        raise HarnessError(f"{run_dir / 'token'} is empty")
    return url, token


def read_broker(run_dir: Path) -> str:
    """The credential broker's address from ``bridge.json`` ("" when the core names none):
    ``broker_host_url`` on the host's network (``HIVETUI_NET=host``), else ``broker``, its
    fixed forwarded port."""
    try:
        data = json.loads((run_dir / "bridge.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    key = "broker_host_url" if os.environ.get(NET_ENV) == "host" else "broker"
    url = data.get(key) if isinstance(data, dict) else None
    return url if isinstance(url, str) else ""


def prepare(run_dir: Path, state_dir: Path) -> tuple[AgentIdentity, str, str]:
    agent = AgentIdentity.load(run_dir / "agent.json")
    url, token = read_bridge(run_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return agent, url, token


def loop_config(agent: AgentIdentity, overrides: dict[str, Any]) -> LoopConfig:
    """Knobs: defaults < agent.json's "harness" object < explicit arguments."""
    known = {"turn_timeout_s", "notes_compact_bytes", "compact_timeout_s", "recv_wait_s",
             "recv_max", "max_turns", "reconnect_min_s", "reconnect_max_s",
             "retry_backoff_s", "retry_backoff_max_s"}
    merged = {k: v for k, v in agent.harness.items() if k in known}
    unknown = set(agent.harness) - known
    if unknown:
        log.warning("agent.json harness keys ignored (unknown): %s", sorted(unknown))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return LoopConfig(**merged)


async def connect_with_retry(client: HiveClient, config: LoopConfig) -> None:
    """The bridge may not be up yet (or is restarting): retry; a refused token is final."""
    backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
    while True:
        try:
            await client.reconnect()  # (re-)reads bridge.json each time
            return
        except BridgeUnreachable as exc:
            delay = backoff.next()
            log.warning("%s; retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)


def make_runtime(agent: AgentIdentity, client: HiveClient, *, url: str, token: str,
                 state_dir: Path, claude_bin: str | None = None,
                 broker: Callable[[], str] = lambda: "") -> Runtime:
    if agent.runtime == "claude":
        runtime = ClaudeRuntime(agent, bridge_url=url, token=token, state_dir=state_dir,
                                claude_bin=claude_bin, broker=broker)
        if shutil.which(runtime.claude_bin) is None:
            # before any message is taken: turns that cannot run would only use up attempts
            raise HarnessError(f"cannot run claude: {runtime.claude_bin!r} is not an "
                               f"executable program here ({CLAUDE_BIN_ENV}, else claude on "
                               "PATH); the core resolves [claude] bin and passes it in")
        return runtime
    if agent.runtime.startswith("scripted:"):
        return make_scripted(agent.runtime, client, agent, state_dir)
    raise HarnessError(f"unknown runtime {agent.runtime!r} (known: claude, scripted:echo, "
                       "scripted:manager, scripted:crash-after:N)")


async def run_harness(run_dir: Path = DEFAULT_RUN_DIR, state_dir: Path = DEFAULT_STATE_DIR, *,
                      turn_timeout_s: float | None = None,
                      notes_compact_bytes: int | None = None,
                      recv_wait_s: float | None = None, max_turns: int | None = None,
                      claude_bin: str | None = None) -> int:
    """Run the turn loop until a runtime asks to exit, or SIGTERM/SIGINT (then 0).

    Returns the process exit status (``scripted:crash-after:N`` -> 3). Raises
    ``HarnessError`` for a run dir the core did not prepare or an unknown runtime.
    """
    agent, url, token = prepare(run_dir, state_dir)
    config = loop_config(agent, {"turn_timeout_s": turn_timeout_s,
                                 "notes_compact_bytes": notes_compact_bytes,
                                 "recv_wait_s": recv_wait_s, "max_turns": max_turns})
    log.info("harness for %s (%s, runtime %s), bridge %s", agent.name, agent.role,
             agent.runtime, url)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    stopping: list[int] = []

    def stop(sig: int) -> None:
        log.info("signal %s: stopping the harness", signal.Signals(sig).name)
        stopping.append(sig)
        if task is not None:
            task.cancel()

    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError) as exc:  # not the main thread
            log.debug("no handler for %s: %s", sig, exc)
    try:
        # the harness's own endpoint; the model gets ``url`` (only the tools meant for it)
        client = HiveClient(harness_url(url), token,
                            url_source=lambda: harness_url(read_bridge(run_dir)[0]))
        try:
            await connect_with_retry(client, config)
            runtime = make_runtime(agent, client, url=model_url(client.url),
                                   token=token, state_dir=state_dir, claude_bin=claude_bin,
                                   broker=lambda: read_broker(run_dir))
            try:
                return await TurnLoop(client, runtime, agent, state_dir, config).run()
            finally:
                await runtime.aclose()
        finally:
            await client.aclose()
    except asyncio.CancelledError:
        if stopping and task is not None:
            task.uncancel()
            return 0
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def main(run_dir: Path = DEFAULT_RUN_DIR, state_dir: Path = DEFAULT_STATE_DIR) -> int:
    """Synchronous entry for ``hivetui harness``: logs to stderr (the container log)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # one line per request: noise
    try:
        return asyncio.run(run_harness(run_dir, state_dir))
    except HarnessError as exc:
        log.error("%s", exc)
        print(f"hivetui harness: {exc}", file=sys.stderr)
        return 2
