"""The `hivetui` command line, on click: the root group, its commands, and :func:`main`
(errors to exit codes). Logging goes to a file: stdout belongs to the TUI.

Click: a group's flags are parsed before its subcommand, into the group's own context, so
a subcommand's absent flag never overwrites one given before it (with argparse's
subparsers it does); click also brings shell completion and per-command help.
The common flags, their "any position" rule and the exit codes are :mod:`hivetui.cli_flags`.

Imports stay lazy: ``attach`` and ``ctl`` (every SSH session runs one) never import the
MCP bridge or its web stack (tests/unit/test_startup_imports.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path

import click

from hivetui.cli_flags import (
    COMMON_OPTIONS,
    CORE_FLAGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Common,
    FlagsGroup,
    common,
    common_options,
    refuse_foreign,
)
from hivetui.core.bounded import clipped
from hivetui.core.config import HiveConfig, LogsConfig, load_config
from hivetui.core.errors import ConfigError, HiveError
from hivetui.core.paths import StatePaths
from hivetui.core.visible import visible
from hivetui.ctl import ctl

#: how much of a usage error is shown (it may repeat an argument of any length)
USAGE_ERROR_CHARS = 300

ENVIRONMENT = """\b
Environment:
  XDG_STATE_HOME     the state directory is $XDG_STATE_HOME/hivetui
                     (default ~/.local/state/hivetui)
  XDG_CONFIG_HOME    the config file is $XDG_CONFIG_HOME/hivetui/config.toml
                     (default ~/.config/hivetui/config.toml; a relative XDG
                     directory is ignored, as the XDG spec says)
  HIVETUI_<SECTION>__<KEY>
                     any config key, over the file, under the same rules:
                     HIVETUI_BUS__MAX_RECV_BATCH=50, HIVETUI_SSH__READ_ONLY='["bob"]';
                     top-level keys as HIVETUI_BACKEND
  NO_COLOR           any value: the TUI draws without colour (passed through SSH
                     sessions when the client sends it)
  ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN
                     the core's credential for real agents when anthropic.key_file
                     is unset; it never enters a container
  HIVETUI_FLAKE      the flake the nixos backend builds containers from
                     (default: the source tree's nix/)
  HIVETUI_SOCKET, HIVETUI_SESSION_TOKEN
                     set by `serve --ssh` for each session's program: the control
                     socket and the session's operator (attach and ctl present the
                     token); the server's own values never reach a session

\b
Exit codes: 0 ok, 1 refused by the hive, 2 usage or config error, 130 interrupted."""


@click.group(cls=FlagsGroup, invoke_without_command=True, epilog=ENVIRONMENT,
             context_settings={"help_option_names": ["-h", "--help"]})
@common_options(*COMMON_OPTIONS)
@click.version_option(package_name="hivetui", prog_name="hivetui",
                      message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> int | None:
    """Run a hive of coding agents from a terminal UI.

    Without a subcommand: the TUI with an embedded core on the state directory.
    Common flags work before or after the subcommand; each command takes only the
    ones it acts on (see COMMAND --help).

    \b
    Example:
      hivetui --state-dir ~/hive
    """
    if ctx.invoked_subcommand is not None:
        return None
    refuse_foreign(ctx, "hivetui", CORE_FLAGS)
    flags = common(ctx)
    config = flags.load_config()
    setup_logging(StatePaths(flags.resolved_state_dir), flags.verbose, logs=config.logs)
    from hivetui.tui.run import run_embedded

    return asyncio.run(run_embedded(flags.resolved_state_dir, config, socket=flags.socket))


@cli.command()
@common_options("state_dir", "config", "backend", "verbose")
@click.option("--headless", is_flag=True,
              help="run the scenario without the UI and print its events")
@click.pass_context
def demo(ctx: click.Context, headless: bool) -> int:
    """A throwaway hive of scripted agents (no API key, no NixOS).

    The state directory is a temporary one unless --state-dir names one (then it is kept).

    \b
    Example:
      hivetui demo --headless
    """
    from hivetui.demo import run_demo

    flags = common(ctx)
    return run_demo(flags.state_dir, load_config(flags.config), backend=flags.backend,
                    verbose=flags.verbose, headless=headless)


@cli.command()
@common_options(*CORE_FLAGS)
@click.option("--ssh", metavar="HOST:PORT", default=None, help="serve the TUI over SSH")
@click.option("--authorized-keys", type=click.Path(path_type=Path, dir_okay=False),
              default=None, metavar="FILE", help="OpenSSH authorized_keys file for --ssh")
@click.pass_context
def serve(ctx: click.Context, ssh: str | None, authorized_keys: Path | None) -> int:
    """The core without a UI: control socket, MCP bridge, SSH.

    SIGTERM stops it cleanly (exit 0); SIGINT too, with exit 130.

    \b
    Example:
      hivetui serve --ssh 0.0.0.0:2222 --authorized-keys ~/.ssh/authorized_keys
    """
    flags = common(ctx)
    config = flags.load_config()
    if ssh:
        config.ssh.listen = ssh
    if authorized_keys:
        config.ssh.authorized_keys = str(authorized_keys)
    setup_logging(StatePaths(flags.resolved_state_dir), flags.verbose, to_stderr=True,
                  logs=config.logs)
    return asyncio.run(_serve(flags, config))


async def _serve(flags: Common, config: HiveConfig) -> int:
    from hivetui.node import HiveNode

    stopped_by: list[signal.Signals] = []
    stop = asyncio.Event()

    def stop_on(sig: signal.Signals) -> None:
        stopped_by.append(sig)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_on, sig)
    async with HiveNode(flags.resolved_state_dir, config, socket=flags.socket) as node:
        print(f"hivetui: serving {flags.resolved_state_dir}", flush=True)
        print(f"  control socket: {node.control.path}", flush=True)
        print(f"  MCP bridge:     {node.bridge.url}", flush=True)
        if config.ssh.listen:
            from hivetui.node_ssh import start_ssh

            ssh = await start_ssh(node)
            print(f"  SSH:            {config.ssh.listen} (host key {ssh.fingerprint})",
                  flush=True)
        await stop.wait()
        print("hivetui: shutting down", flush=True)
    return EXIT_INTERRUPTED if stopped_by[:1] == [signal.SIGINT] else EXIT_OK


@cli.command()
@common_options("state_dir", "config", "socket", "verbose", "timeout")
@click.pass_context
def attach(ctx: click.Context) -> int:
    """The TUI attached to a running core through its control socket.

    --config is read for control.timeout_s and terminal.palette only (the core has its
    own config).

    \b
    Example:
      hivetui attach --socket /var/lib/hivetui/run/control.sock
    """
    flags = common(ctx)
    timeout_s = flags.control_timeout()
    palette = flags.load_config().terminal.colours()
    setup_logging(StatePaths(flags.resolved_state_dir), flags.verbose)
    from hivetui.tui.run import run_attached

    return asyncio.run(run_attached(flags.control_socket, timeout_s, palette))


@cli.command(hidden=True)
@click.option("--run-dir", type=click.Path(path_type=Path), default=Path("/run/hive"),
              help="the agent's run directory (bridge URL and token)")
@click.option("--state-dir", "agent_state_dir", type=click.Path(path_type=Path),
              default=Path("/state"), help="the agent's own state directory")
def harness(run_dir: Path, agent_state_dir: Path) -> int:
    """The loop inside a container (not for people).

    \b
    Example:
      hivetui harness --run-dir /run/hive --state-dir /state
    """
    from hivetui.harness.main import main as harness_main

    return harness_main(run_dir, agent_state_dir)


SHELLS = ("bash", "zsh", "fish")


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    Example:
      hivetui completion fish > ~/.config/fish/completions/hivetui.fish
      eval "$(hivetui completion bash)"      # in ~/.bashrc
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # SHELLS are click's own
    click.echo(completer(cli, {}, "hivetui", "_HIVETUI_COMPLETE").source())


cli.add_command(ctl)


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
        err.setLevel(logging.DEBUG if verbose else logging.WARNING)
        err.setFormatter(fmt)
        root.addHandler(err)
    for noisy in ("httpx", "httpx2", "httpcore", "mcp", "uvicorn", "asyncssh", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _usage_error(flags: Common, exc: click.UsageError) -> int:
    """Report a usage error: the usage line and the reason (bounded and shown, never
    interpreted, as it may repeat what was typed), or one JSON object with --json."""
    reason = visible(clipped(exc.format_message(), USAGE_ERROR_CHARS))
    if flags.json:
        return flags.report("Usage error", reason, EXIT_USAGE)
    if exc.ctx is not None:
        print(f"{exc.ctx.get_usage()}\nTry '{exc.ctx.command_path} --help' for help.\n",
              file=sys.stderr)
    print(f"Error: {reason}", file=sys.stderr)
    return EXIT_USAGE


def _json_requested(argv: Sequence[str]) -> bool:
    """--json among the options (before a ``--``), for errors found while parsing."""
    options = argv[:list(argv).index("--")] if "--" in argv else argv
    return "--json" in options


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    flags = Common()
    try:
        result = cli.main(args, prog_name="hivetui", standalone_mode=False, obj=flags)
    except click.UsageError as exc:
        flags.json = flags.json or _json_requested(args)
        return _usage_error(flags, exc)
    except click.ClickException as exc:
        return flags.report("Error", exc.format_message(), exc.exit_code)
    except click.Abort:  # click's name for KeyboardInterrupt (and EOF on a prompt)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ConfigError as exc:
        return flags.report(exc.title, exc.message, EXIT_USAGE)
    except HiveError as exc:  # refused: by the store at start, or by a running core
        return flags.report(exc.title, exc.message, EXIT_REFUSED)
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
