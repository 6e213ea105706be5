"""The NixOS module's options are all documented, and its configuration does what it says
(evaluated against the stub of nixpkgs in test_nix_support: nixpkgs itself is not offline)."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_nix_support import (
    NIX_DIR,
    REPO,
    nix_eval_json,
    nix_instantiate,
    nix_path,
    parse_systemd_exec,
    write_stub,
)

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@laptop"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBob"


@pytest.fixture
def stub(tmp_path: Path) -> str:
    nix_instantiate()
    return nix_path(write_stub(tmp_path))


def _options(stub: str, file: Path) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = nix_eval_json(
        f"let s = import {stub}; in s.walk [ ] (s.evalModule {nix_path(file)} {{ }}).options")
    return result


@pytest.mark.parametrize("file", ["module.nix", "agent.nix"])
def test_every_option_has_a_description(stub: str, file: str) -> None:
    options = _options(stub, NIX_DIR / file)
    assert len(options) >= 10
    undocumented = [o["path"] for o in options if not o["hasDescription"]]
    assert undocumented == []


def test_module_declares_the_promised_options(stub: str) -> None:
    paths = {o["path"] for o in _options(stub, NIX_DIR / "module.nix")}
    prefix = "services.hivetui."
    for name in ["enable", "package", "user", "group", "stateDir", "ssh.listen",
                 "ssh.authorizedKeys", "ssh.authorizedKeys.*.key", "ssh.authorizedKeys.*.name",
                 "ssh.authorizedKeys.*.readOnly", "settings", "backend"]:
        assert prefix + name in paths


def test_walker_sees_a_missing_description(stub: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.nix"
    bad.write_text("{ lib, ... }: { options.x = { a = lib.mkOption { type = lib.types.str; };"
                   " b = lib.mkOption { type = lib.types.listOf (lib.types.submodule { options.c"
                   " = lib.mkOption { description = \"\"; }; }); description = \"b\"; }; }; }")
    missing = [o["path"] for o in _options(stub, bad) if not o["hasDescription"]]
    assert missing == ["x.a", "x.b.*.c"]


_MKOPTION = re.compile(r"mkOption\s*\{")


def _mkoption_blocks(text: str) -> list[str]:
    """The text of each `mkOption { … }` call, by brace matching (no nixpkgs needed)."""
    blocks = []
    for m in _MKOPTION.finditer(text):
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                break
        blocks.append(text[m.end():i])
    return blocks


@pytest.mark.parametrize("file", ["module.nix", "agent.nix"])
def test_every_mkoption_block_has_description_text(file: str) -> None:
    """The same promise checked on the text, so it holds even where Nix is missing."""
    blocks = _mkoption_blocks((NIX_DIR / file).read_text())
    assert len(blocks) >= 10
    assert all("description =" in b for b in blocks)


# --- the module's configuration ------------------------------------------------------------------
def _config(stub: str, **over: Any) -> Any:
    cfg = {
        "enable": "true", "package": 's.pkg "hivetui"', "backend": '"nixos"',
        "user": '"root"', "group": '"root"', "stateDir": '"/var/lib/hivetui"',
        "settings": "{ crash_watch.interval_s = 5; backend = \"nixos\"; }",  # no merging here
        "agentFlake": '"path:/nix/store/hv-source?dir=nix"', "agentNixpkgs": "null",
        "environmentFile": "null", "extraArgs": "[ ]",
        "ssh": ('{ listen = "0.0.0.0:2222"; openFirewall = true; authorizedKeys = ['
                f' {{ key = "{KEY_A}"; name = "alice"; readOnly = false; }}'
                f' {{ key = "{KEY_B}"; name = "bob"; readOnly = true; }} ]; }}'),
    }
    cfg.update(over)
    body = " ".join(f"{k} = {v};" for k, v in cfg.items())
    return nix_eval_json(f"""
      let
        s = import {stub};
        c = (s.evalModule {nix_path(NIX_DIR / "module.nix")}
              {{ services.hivetui = {{ {body} }}; }}).config;
        svc = c.systemd.services.hivetui or {{ }};
      in {{
        empty = c == {{ }};
        assertions = map (a: a.assertion) (c.assertions or [ ]);
        enableContainers = c.boot.enableContainers or null;
        exec = svc.serviceConfig.ExecStart or "";
        service = builtins.removeAttrs (svc.serviceConfig or {{ }}) [ "ExecStart" ];
        env = svc.environment or {{ }};
        path = map toString (svc.path or [ ]);
        ports = c.networking.firewall.allowedTCPPorts or [ ];
        users = builtins.attrNames (c.users.users or {{ }});
        tmpfiles = c.systemd.tmpfiles.rules or [ ];
        settingsBackend = c.services.hivetui.settings.backend or null;
      }}""")


def _store_text(arg: str) -> str:
    """What the stub's writeText/formats.generate embedded in the fake store path."""
    m = re.fullmatch(r"/nix/store/stub-[^<]+<(.*)>", arg, re.S)
    assert m, arg
    return m.group(1)


def test_service_command_line_and_authorized_keys(stub: str) -> None:
    out = _config(stub)
    assert out["assertions"] and all(out["assertions"])
    assert out["enableContainers"] is True
    args = parse_systemd_exec(out["exec"])
    assert args[:5] == ["/nix/store/stub-hivetui/bin/hivetui", "serve", "--state-dir",
                        "/var/lib/hivetui", "--config"]
    assert args[6:8] == ["--ssh", "0.0.0.0:2222"]
    assert args[8] == "--authorized-keys"
    assert args[10:] == ["--backend", "nixos"]
    keys = [ln for ln in _store_text(args[9]).splitlines() if not ln.startswith("#")]
    assert keys == [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice",
        "hivetui-read-only ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBob bob",
    ]
    # the stub's formats.toml.generate embeds the data as JSON
    assert json.loads(_store_text(args[5])) == {"crash_watch": {"interval_s": 5},
                                                 "backend": "nixos"}
    assert out["settingsBackend"] == "nixos"
    assert out["ports"] == [2222]


def test_authorized_keys_parse_with_asyncssh(stub: str) -> None:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    ssh = f'{{ listen = "127.0.0.1:2222"; openFirewall = false; authorizedKeys = [ {{ key = "{key}"; name = "carol"; readOnly = true; }} {{ key = "{key} old comment"; name = "dave"; readOnly = false; }} ]; }}'  # noqa: E501
    args = parse_systemd_exec(_config(stub, ssh=ssh)["exec"])
    keys = asyncssh.import_authorized_keys(_store_text(args[9]))
    options = keys.validate(asyncssh.import_public_key(key), "localhost", "127.0.0.1")
    assert options == {"hivetui-read-only": True}


def test_hardening(stub: str) -> None:
    service = _config(stub)["service"]
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] is True
    assert service["StateDirectory"] == "hivetui"
    assert service["StateDirectoryMode"] == "0700"
    assert "/etc/nixos-containers" in service["ReadWritePaths"]
    assert "RestrictNamespaces" not in service and "PrivateUsers" not in service
    # every writable path exists before the service starts (tmpfiles creates them)
    tmpfiles = _config(stub)["tmpfiles"]
    for path in service["ReadWritePaths"][1:]:
        assert f"d {path} 0755 root root -" in tmpfiles


def test_local_backend_without_ssh(stub: str) -> None:
    out = _config(stub, backend='"local"', user='"hivetui"', group='"hivetui"',
                  ssh="{ listen = null; openFirewall = true; authorizedKeys = [ ]; }")
    args = parse_systemd_exec(out["exec"])
    assert "--ssh" not in args and args[-2:] == ["--backend", "local"]
    assert out["service"]["ReadWritePaths"] == ["/var/lib/hivetui"]
    assert "NIX_REMOTE" not in out["env"]
    assert "/nix/store/stub-bubblewrap" in out["path"]
    assert out["users"] == ["hivetui"]
    assert out["ports"] == []
    assert out["tmpfiles"] == []


def test_assertions_catch_misconfiguration(stub: str) -> None:
    out = _config(stub, user='"hivetui"', ssh="{ listen = \"[::]:22\"; openFirewall = false; "
                  "authorizedKeys = [ ]; }")
    assert out["assertions"] == [False, False]


def test_disabled_module_configures_nothing(stub: str) -> None:
    assert _config(stub, enable="false")["empty"] is True


# --- package and flake -------------------------------------------------------------------------
def test_package_mirrors_pyproject(stub: str) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    out = nix_eval_json(f"""
      let s = import {stub}; p = s.pkgs.callPackage {nix_path(NIX_DIR / "package.nix")} {{ }};
      in {{ inherit (p) pname version pyproject; deps = map (d: d.pname) p.dependencies;
            build = map (d: d.pname) p.build-system; main = p.meta.mainProgram;
            pinned = map (d: {{ inherit (d) pname version; wheel = d.src.format;
                               deps = map (x: x.pname) d.dependencies; }})
                     (builtins.filter (d: d ? version) p.dependencies); }}""")
    assert out["pname"] == pyproject["project"]["name"]
    assert out["version"] == pyproject["project"]["version"]
    assert out["pyproject"] is True and out["build"] == ["hatchling"]
    assert out["main"] == "hivetui" and "hivetui" in pyproject["project"]["scripts"]
    wanted = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower()
              for d in pyproject["project"]["dependencies"]}
    assert set(out["deps"]) == wanted
    # nixpkgs trails: the MCP SDK 2.x and textual 8 come pinned from python-overrides.nix
    pinned = {d["pname"]: d for d in out["pinned"]}
    assert pinned["mcp"]["version"] == "2.3.0" and pinned["mcp"]["wheel"] == "wheel"
    assert {"httpx2", "mcp_types"} <= set(pinned["mcp"]["deps"])
    assert pinned["textual"]["version"] == "8.2.8"
    # ... at the versions the test suite itself runs with
    for name, dep in pinned.items():
        assert dep["version"] == metadata.version(name), f"re-pin {name} in python-overrides.nix"


def test_flake_outputs(stub: str) -> None:
    out = nix_eval_json(f"""
      let
        s = import {stub};
        flake = import {nix_path(NIX_DIR / "flake.nix")};
        self = flake.outputs {{ inherit self; nixpkgs = s.nixpkgs; }}
               // {{ sourceInfo.outPath = "/nix/store/src"; }};
        wrapper = self.nixosModules.hivetui {{ inherit (s) lib pkgs; }};
      in {{
        pkg = self.packages.x86_64-linux.hivetui.pname;
        default = self.packages.aarch64-linux.default.pname;
        shell = self.devShells.x86_64-linux.default._stub;
        modules = builtins.attrNames self.nixosModules;
        imports = map toString wrapper.imports;
        agentFlake = wrapper.services.hivetui.agentFlake;
        agentNixpkgs = wrapper.services.hivetui.agentNixpkgs;
        package = wrapper.services.hivetui.package.pname;
        nixpkgsUrl = flake.inputs.nixpkgs.url;
      }}""")
    assert out == {"pkg": "hivetui", "default": "hivetui", "shell": "mkShell",
                   "modules": ["agent", "default", "hivetui"],
                   "imports": [str(NIX_DIR / "module.nix")],
                   "agentFlake": "path:/nix/store/src?dir=nix",
                   "agentNixpkgs": "path:/nix/store/stub-nixpkgs", "package": "hivetui",
                   "nixpkgsUrl": "github:NixOS/nixpkgs/nixos-unstable"}
