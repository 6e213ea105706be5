"""Render an agent's flake for the nixos backend (pure Python: no Nix at run time).

The nixos backend writes, per agent, a flake directory holding ``flake.nix``
(rendered here from the agent's :class:`AgentSettings`) and a copy of
``agent.nix`` (the container template shipped with hivetui), then runs
``nixos-container create h-<name> --flake path:<dir>#h-<name>``.

Imperative containers take their host-side settings from
``/etc/nixos-containers/h-<name>.conf``, not from the flake:
:func:`nspawn_conf` gives the ``PRIVATE_USERS`` and ``EXTRA_NSPAWN_FLAGS``
values for it (the same values ``agent.nix`` computes as ``hive.agent.nspawn``).

Network: unless the agent's settings say ``network = "host"``, the container has a private
network (``PRIVATE_NETWORK=1``, no addresses: loopback only) where a forwarder service
serves the core's services at their fixed ports (:mod:`hivetui.core.forwards`) and the
harness gets the egress proxy variables.
"""

from __future__ import annotations

import logging
import os
import platform
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import hivetui
from hivetui.core.errors import ContainerError
from hivetui.core.forwards import container_env, inside_forwards
from hivetui.core.names import container_name, validate_agent_name
from hivetui.core.ports import Bind
from hivetui.core.settings import AgentSettings

log = logging.getLogger(__name__)

AGENT_TEMPLATE = "agent.nix"
AGENT_MODULE = "agent-config.nix"  # the agent's own agent.nix from its applied config repo
EMPTY_MODULE = "# this agent's config repo has no agent.nix\n{ ... }:\n{ }\n"
STATE_MOUNT = "/state"
RUN_MOUNT = "/run/hive"

# systemd-nspawn's --bind=SRC:DST[:OPTS] splits on ':' and the .conf value is
# word-split by the container's start script: paths must avoid both.
_SAFE_PATH = re.compile(r"/[^\s:]*")
_MACHINES = {"x86_64": "x86_64-linux", "amd64": "x86_64-linux",
             "aarch64": "aarch64-linux", "arm64": "aarch64-linux"}


def nix_str(value: str) -> str:
    """``value`` as a Nix double-quoted string literal.

    Every ``\\``, ``"`` and ``$`` is backslash-escaped (so neither ``${`` nor
    ``$${`` can start an interpolation), and newline, carriage return and tab
    use their escapes. Nix strings cannot hold NUL: refused.
    """
    if "\0" in value:
        raise ContainerError(f"cannot put {value[:40]!r} in a Nix string: it contains a NUL "
                             "character, which Nix strings cannot hold")
    out = (value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
           .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{out}"'


def nix_system(machine: str | None = None) -> str:
    """The Nix system double (``x86_64-linux``…) of this machine."""
    arch = (machine or platform.machine()).lower()
    try:
        return _MACHINES[arch]
    except KeyError:
        raise ContainerError(f"no Nix system known for machine {arch!r} "
                             f"(known: {sorted(set(_MACHINES.values()))})") from None


def _check_path(what: str, path: Path | str) -> str:
    text = str(path)
    if _SAFE_PATH.fullmatch(text) is None:
        raise ContainerError(f"{what} {text!r} must be an absolute path without whitespace or "
                             "':' (systemd-nspawn bind syntax)")
    return text


def _check_flake_ref(what: str, ref: str) -> str:
    if not ref or any(c.isspace() for c in ref) or "\0" in ref:
        raise ContainerError(f"{what} {ref!r} must be a non-empty flake reference without "
                             "whitespace")
    return ref


def _binds(state_dir: Path, run_dir: Path, extra_binds: Iterable[Bind]) -> list[Bind]:
    return [Bind(state_dir, STATE_MOUNT, writable=True), Bind(run_dir, RUN_MOUNT),
            *extra_binds]


def nspawn_conf(settings: AgentSettings, *, state_dir: Path, run_dir: Path,
                extra_binds: Sequence[Bind] = ()) -> dict[str, str]:
    """``PRIVATE_USERS`` and ``EXTRA_NSPAWN_FLAGS`` for ``/etc/nixos-containers/h-<name>.conf``.

    With private users the container gets its own uid range (``pick``) and
    every bind is idmapped, so host root's files look like the container
    root's and nothing has to be chowned.
    """
    idmap = ":idmap" if settings.private_users else ""
    flags = []
    for bind in _binds(state_dir, run_dir, extra_binds):
        host = _check_path("bind source", bind.host)
        dest = _check_path("bind target", bind.container)
        flags.append(f"{'--bind=' if bind.writable else '--bind-ro='}{host}:{dest}{idmap}")
    return {"PRIVATE_USERS": "pick" if settings.private_users else "",
            "PRIVATE_NETWORK": "0" if settings.host_network else "1",
            "EXTRA_NSPAWN_FLAGS": " ".join(flags)}


def _nix_number(value: float | None) -> str:
    """A float as Nix reads it (``null`` for None): always with a point, never an exponent."""
    return "null" if value is None else f"{value:.6f}"


def _nix_list(items: Iterable[str], indent: str) -> str:
    values = list(items)
    if not values:
        return "[ ]"
    inner = "".join(f"{indent}  {nix_str(v)}\n" for v in values)
    return f"[\n{inner}{indent}]"


def _render_agent_attrs(name: str, settings: AgentSettings, state_dir: str, run_dir: str,
                        extra_binds: Sequence[Bind], indent: str) -> str:
    i1 = indent + "  "
    lines = [
        "{",
        f"{i1}name = {nix_str(name)};",
        f"{i1}runtime = {nix_str(settings.runtime)};",
        f"{i1}model = {nix_str(settings.model)};",
        f"{i1}allowedTools = {_nix_list(settings.allowed_tools, i1)};",
    ]
    if settings.extra_mcp_servers:
        lines.append(f"{i1}mcpServers = [")
        i2, i3 = i1 + "  ", i1 + "    "
        for spec in settings.extra_mcp_servers:
            lines += [f"{i2}{{",
                      f"{i3}name = {nix_str(spec.name)};",
                      f"{i3}command = {nix_str(spec.command)};",
                      f"{i3}args = {_nix_list(spec.args, i3)};"]
            if spec.env:
                lines.append(f"{i3}env = {{")
                lines += [f"{i3}  {nix_str(k)} = {nix_str(v)};"
                          for k, v in sorted(spec.env.items())]
                lines.append(f"{i3}}};")
            else:
                lines.append(f"{i3}env = {{ }};")
            lines.append(f"{i2}}}")
        lines.append(f"{i1}];")
    else:
        lines.append(f"{i1}mcpServers = [ ];")
    lines += [
        f"{i1}packages = {_nix_list(settings.packages, i1)};",
        f"{i1}privateUsers = {'true' if settings.private_users else 'false'};",
        f"{i1}budgetUsdPerDay = {_nix_number(settings.budget_usd_per_day)};",
        f"{i1}privateNetwork = {'false' if settings.host_network else 'true'};",
        f"{i1}networkAllow = {_nix_list(settings.network_allow, i1)};",
        f"{i1}forwards = {_nix_list([f'{p}={s}' for p, s in inside_forwards()], i1)};",
        f"{i1}networkEnv = {{",
        *[f"{i1}  {k} = {nix_str(v)};"
          for k, v in sorted(container_env(not settings.host_network).items())],
        f"{i1}}};",
        f"{i1}stateDir = {nix_str(state_dir)};",
        f"{i1}runDir = {nix_str(run_dir)};",
    ]
    if extra_binds:
        lines.append(f"{i1}extraBinds = [")
        for bind in extra_binds:
            lines.append(
                f"{i1}  {{ hostPath = {nix_str(_check_path('bind source', bind.host))}; "
                f"mountPoint = {nix_str(_check_path('bind target', bind.container))}; "
                f"writable = {'true' if bind.writable else 'false'}; }}")
        lines.append(f"{i1}];")
    else:
        lines.append(f"{i1}extraBinds = [ ];")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def render_agent_flake(name: str, settings: AgentSettings, *, state_dir: Path, run_dir: Path,
                       hivetui_flake: str, nixpkgs_flake: str | None = None,
                       system: str | None = None, extra_binds: Sequence[Bind] = ()) -> str:
    """The text of agent ``name``'s ``flake.nix``.

    ``hivetui_flake`` is the flake reference giving the hivetui package and,
    unless ``nixpkgs_flake`` is given, nixpkgs. The flake's
    ``nixosConfigurations."h-<name>"`` instantiates ``./agent.nix`` with the
    agent's settings, plus ``./agent-config.nix``, the agent's own ``agent.nix`` from its
    applied config repo; ``hiveAgent`` holds the same settings as plain data.
    """
    validate_agent_name(name)
    state = _check_path("state dir", state_dir)
    run = _check_path("run dir", run_dir)
    _check_flake_ref("hivetui flake", hivetui_flake)
    if nixpkgs_flake is not None:
        _check_flake_ref("nixpkgs flake", nixpkgs_flake)
    system = system or nix_system()
    nixpkgs_input = (f"nixpkgs.url = {nix_str(nixpkgs_flake)};" if nixpkgs_flake is not None
                     else 'nixpkgs.follows = "hivetui/nixpkgs";')
    agent = _render_agent_attrs(name, settings, state, run, extra_binds, "      ")
    machine = container_name(name)
    return f"""\
# Generated by hivetui for agent {name}. Do not edit: change the agent's
# settings.toml and apply the commit; the nixos backend renders this again.
{{
  description = "hivetui agent {name}";

  inputs = {{
    hivetui.url = {nix_str(hivetui_flake)};
    {nixpkgs_input}
  }};

  outputs =
    {{ nixpkgs, hivetui, ... }}:
    let
      system = {nix_str(system)};
      agent = {agent};
    in
    {{
      nixosConfigurations.{nix_str(machine)} = nixpkgs.lib.nixosSystem {{
        inherit system;
        modules = [
          ./{AGENT_TEMPLATE}
          {{ hive.agent = agent // {{ package = hivetui.packages.${{system}}.hivetui; }}; }}
          ./{AGENT_MODULE}
        ];
      }};
      hiveAgent = agent;
    }};
}}
"""


def agent_template_path() -> Path:
    """``agent.nix``: in the installed wheel (hivetui/nix) or the source tree (nix/)."""
    package_dir = Path(hivetui.__file__).resolve().parent
    for candidate in (package_dir / "nix" / AGENT_TEMPLATE,
                      package_dir.parent / "nix" / AGENT_TEMPLATE):
        if candidate.is_file():
            return candidate
    raise ContainerError(f"the agent template {AGENT_TEMPLATE} is missing from {package_dir}/nix "
                         f"and {package_dir.parent}/nix: the hivetui installation is incomplete")


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_agent_flake(flake_dir: Path, name: str, settings: AgentSettings, *, state_dir: Path,
                      run_dir: Path, hivetui_flake: str, nixpkgs_flake: str | None = None,
                      system: str | None = None, extra_binds: Sequence[Bind] = (),
                      nix_module: str = "") -> str:
    """Write ``flake.nix``, a copy of ``agent.nix`` and the agent's own module
    (``nix_module``, its applied ``agent.nix``; an empty module when "") into ``flake_dir``.

    Returns the flake reference for ``nixos-container create/update --flake``
    (``path:<dir>#h-<name>``: the ``path:`` type makes Nix read the directory
    as it is, even inside a git working tree). An existing ``flake.lock`` is
    left alone so a re-render keeps the agent's pinned inputs.
    """
    text = render_agent_flake(name, settings, state_dir=state_dir, run_dir=run_dir,
                              hivetui_flake=hivetui_flake, nixpkgs_flake=nixpkgs_flake,
                              system=system, extra_binds=extra_binds)
    template = agent_template_path().read_text(encoding="utf-8")
    flake_dir = flake_dir.resolve()
    _check_path("flake dir", flake_dir)
    flake_dir.mkdir(parents=True, exist_ok=True)
    _write_if_changed(flake_dir / AGENT_TEMPLATE, template)
    _write_if_changed(flake_dir / AGENT_MODULE, nix_module if nix_module.strip() else EMPTY_MODULE)
    _write_if_changed(flake_dir / "flake.nix", text)
    log.info("rendered the flake of agent %s in %s", name, flake_dir)
    return f"path:{flake_dir}#{container_name(name)}"
