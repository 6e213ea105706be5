"""The common flags of the command line, shared by `hivetui` and `hivetui ctl`.

A common flag (``--state-dir``, ``--config``, ``--backend``, ``--socket``, ``-v``,
``--json``, ``--timeout``) is accepted before or after the subcommand; the one given last
wins and an absent one never overrides a given one (every command writes into the one
:class:`Common` of the invocation). A command takes only the common flags it acts on:
one given before a subcommand that does not take it is a usage error, never ignored.

Exit codes, every command: 0 ok, 1 refused by the hive (or the hive did not answer),
2 usage or configuration error, 130 interrupted. With ``--json`` an error goes to
stderr as one JSON object ``{"error": title, "message": text, "exit_code": n}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from hivetui.core.config import (
    BACKEND_NAMES,
    BackendName,
    HiveConfig,
    default_state_dir,
    load_config,
)
from hivetui.core.paths import StatePaths
from hivetui.core.visible import visible

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_TIMEOUT_S = 86400.0
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Common:
    """The common flags of one invocation, wherever on the line they were given."""

    state_dir: Path | None = None
    config: Path | None = None
    backend: BackendName | None = None
    socket: Path | None = None
    verbose: bool = False
    json: bool = False
    timeout: float | None = None
    #: what an error message starts with ("hivetui", "hivetui ctl")
    prefix: str = "hivetui"

    @property
    def resolved_state_dir(self) -> Path:
        return self.state_dir or default_state_dir()

    @property
    def control_socket(self) -> Path:
        return self.socket or StatePaths(self.resolved_state_dir).control_socket

    def load_config(self) -> HiveConfig:
        """The config file (``--config``, else the XDG one if it exists), ``--backend``
        applied."""
        config = load_config(self.config)
        if self.backend:
            config.backend = self.backend
        return config

    def control_timeout(self) -> float:
        """``--timeout``, else the config's ``control.timeout_s``."""
        if self.timeout is None:
            return load_config(self.config).control.timeout_s
        return self.timeout

    def report(self, title: str, message: str, code: int) -> int:
        """Print one error (a JSON object with --json) on stderr; return ``code``."""
        if self.json:
            print(json.dumps({"error": title, "message": message, "exit_code": code},
                             ensure_ascii=False), file=sys.stderr)
        else:
            print(visible(f"{self.prefix}: {title}: {message}"), file=sys.stderr)
        return code


def common(ctx: click.Context) -> Common:
    """The invocation's common flags (the root context's object)."""
    return ctx.find_root().ensure_object(Common)


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Keep a common flag's value if it was given (an absent one keeps an earlier one)."""
    if value is None or value is False or param.name is None:
        return
    if param.name == "timeout" and not 0 < value <= MAX_TIMEOUT_S:
        raise click.BadParameter(
            f"must be more than 0 and at most {MAX_TIMEOUT_S:g} (seconds), got {value:g}",
            ctx=ctx, param=param)
    setattr(common(ctx), param.name, value)


def _option(*decls: str, **attrs: Any) -> Callable[[F], F]:
    return click.option(*decls, callback=_store, expose_value=False, **attrs)


COMMON_OPTIONS: dict[str, Callable[[F], F]] = {
    "state_dir": _option(
        "--state-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
        metavar="DIR", help="state directory (default $XDG_STATE_HOME/hivetui)"),
    "config": _option(
        "--config", type=click.Path(path_type=Path, dir_okay=False), default=None,
        metavar="FILE", help="config file (default $XDG_CONFIG_HOME/hivetui/config.toml)"),
    "backend": _option(
        "--backend", type=click.Choice(BACKEND_NAMES), default=None,
        help="container backend (default: from config, else local)"),
    "socket": _option(
        "--socket", type=click.Path(path_type=Path, dir_okay=False), default=None,
        metavar="PATH", help="control socket (default <state-dir>/run/control.sock)"),
    "verbose": _option("-v", "--verbose", is_flag=True, default=False,
                       help="debug logging"),
    "json": _option("--json", is_flag=True, default=False,
                    help="machine output; an error as one JSON object on stderr"),
    "timeout": _option(
        "--timeout", type=float, default=None, metavar="SECONDS",
        help="give up on a request the core has not answered after SECONDS "
             "(default: control.timeout_s, 300)"),
}
#: the common flags of a command that runs a core
CORE_FLAGS = ("state_dir", "config", "backend", "socket", "verbose")
#: the common flags of a command that talks to a running core (--config: for
#: control.timeout_s; the core reads its own config)
CLIENT_FLAGS = ("state_dir", "config", "socket", "verbose", "json", "timeout")


def common_options(*names: str) -> Callable[[F], F]:
    """Add the named common flags to a command (in the order of COMMON_OPTIONS)."""
    def decorate(f: F) -> F:
        for name in reversed([n for n in COMMON_OPTIONS if n in names]):
            f = COMMON_OPTIONS[name](f)
        return f
    return decorate


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def given_flags(ctx: click.Context) -> list[str]:
    """The common flags given on ``ctx``'s own stretch of the command line."""
    return [name for name in COMMON_OPTIONS
            if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]


def refuse_foreign(ctx: click.Context, where: str, takes: Collection[str]) -> None:
    """A usage error for a common flag given on ``ctx``'s stretch of the line that
    ``where`` (the command about to run) does not take."""
    for name in given_flags(ctx):
        if name not in takes:
            accepted = ", ".join(flag_name(n) for n in COMMON_OPTIONS if n in takes)
            raise click.UsageError(f"{flag_name(name)} does not apply to `{where}` "
                                   f"(its common flags: {accepted or 'none'})", ctx=ctx)


class FlagsGroup(click.Group):
    """A group whose common flags, given before its subcommand, must be ones that
    subcommand takes (checked as the subcommand is resolved, before anything runs)."""

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not ctx.resilient_parsing:
            refuse_foreign(ctx, f"{ctx.command_path} {name}", {p.name for p in command.params
                                                               if p.name})
        return name, command, rest
