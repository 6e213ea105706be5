"""The `hivetui` command line. Logging goes to a file: stdout belongs to the TUI."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from hivetui.core.config import HiveConfig, LogsConfig, default_state_dir, load_config
from hivetui.core.errors import HiveError, StoreError
from hivetui.core.paths import StatePaths

log = logging.getLogger("hivetui")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", type=Path, default=None,
                   help="state directory (default $XDG_STATE_HOME/hivetui)")
    p.add_argument("--config", type=Path, default=None,
                   help="config file (default $XDG_CONFIG_HOME/hivetui/config.toml)")
    p.add_argument("--backend", choices=["local", "nixos"], default=None,
                   help="container backend (default: from config, else local)")
    p.add_argument("--socket", type=Path, default=None,
                   help="control socket (default <state-dir>/run/control.sock)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hivetui", description="Run a hive of coding agents.")
    _common(parser)
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="a throwaway hive with scripted agents")
    _common(demo)
    demo.add_argument("--headless", action="store_true",
                      help="run the scenario without the UI and print its events")

    serve = sub.add_parser("serve", help="the core without a UI")
    _common(serve)
    serve.add_argument("--ssh", metavar="HOST:PORT", default=None, help="serve the TUI over SSH")
    serve.add_argument("--authorized-keys", type=Path, default=None,
                       help="OpenSSH authorized_keys file for --ssh")

    attach = sub.add_parser("attach", help="the TUI against a running core")
    _common(attach)

    harness = sub.add_parser("harness", help="the loop inside a container (not for people)")
    harness.add_argument("--run-dir", type=Path, default=Path("/run/hive"))
    harness.add_argument("--state-dir", type=Path, default=Path("/state"))

    from hivetui.ctl import add_ctl_parser

    add_ctl_parser(sub, _common)
    return parser


def setup_logging(paths: StatePaths | None, verbose: bool, to_stderr: bool = False,
                  logs: LogsConfig | None = None) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if paths is not None:
        paths.prepare()
        logs = logs or LogsConfig()
        handler: logging.Handler = RotatingFileHandler(
            paths.log_file, maxBytes=logs.core_max_bytes, backupCount=logs.keep,
            encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
        if not verbose:
            handler.setLevel(logging.WARNING)
    handler.setFormatter(fmt)
    root.addHandler(handler)
    if to_stderr and paths is not None:
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        err.setFormatter(fmt)
        root.addHandler(err)
    for noisy in ("httpx", "httpx2", "httpcore", "mcp", "uvicorn", "asyncssh", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def resolve(args: argparse.Namespace) -> tuple[HiveConfig, Path]:
    config = load_config(args.config)
    if getattr(args, "backend", None):
        config.backend = args.backend
    state_dir = args.state_dir or default_state_dir()
    return config, state_dir


async def _serve(args: argparse.Namespace) -> int:
    from hivetui.node import HiveNode

    config, state_dir = resolve(args)
    if args.ssh:
        config.ssh.listen = args.ssh
    if args.authorized_keys:
        config.ssh.authorized_keys = str(args.authorized_keys)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with HiveNode(state_dir, config, socket=args.socket) as node:
        print(f"hivetui: serving {state_dir}", flush=True)
        print(f"  control socket: {node.control.path}", flush=True)
        print(f"  MCP bridge:     {node.bridge.url}", flush=True)
        if config.ssh.listen:
            from hivetui.node_ssh import start_ssh

            ssh = await start_ssh(node)
            print(f"  SSH:            {config.ssh.listen} (host key {ssh.fingerprint})",
                  flush=True)
        await stop.wait()
        print("hivetui: shutting down", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command
    try:
        if command == "harness":
            from hivetui.harness.main import main as harness_main

            return harness_main(args.run_dir, args.state_dir)
        if command == "ctl":
            setup_logging(None, args.verbose)
            from hivetui.ctl import run_ctl

            return asyncio.run(run_ctl(args))
        if command == "demo":
            from hivetui.demo import run_demo

            return run_demo(args)
        config, state_dir = resolve(args)
        setup_logging(StatePaths(state_dir), args.verbose, to_stderr=command == "serve",
                      logs=config.logs)
        if command == "serve":
            return asyncio.run(_serve(args))
        from hivetui.tui.run import run_attached, run_embedded

        if command == "attach":
            socket = args.socket or StatePaths(state_dir).control_socket
            return asyncio.run(run_attached(socket, config.control.timeout_s))
        return asyncio.run(run_embedded(state_dir, config, socket=args.socket))
    except StoreError as exc:  # the hive refuses to start on its store
        print(f"hivetui: {exc.title}: {exc.message}", file=sys.stderr)
        return 1
    except HiveError as exc:
        print(f"hivetui: {exc.title}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
