"""Rendering an agent's flake from its settings: the text carries each setting, parses, and
evaluates (against the stub of nixpkgs in test_nix_support) back to exactly those settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivetui.containers.nix_render import (
    agent_template_path,
    nix_str,
    nix_system,
    nspawn_conf,
    render_agent_flake,
    write_agent_flake,
)
from hivetui.core.errors import ContainerError, NameError_
from hivetui.core.ports import Bind
from hivetui.core.settings import AgentSettings, McpServerSpec, NetworkSettings
from tests.unit.test_nix_support import (
    nix_eval_json,
    nix_instantiate,
    nix_parse,
    nix_path,
    parse_systemd_exec,
    write_stub,
)

HOSTILE = 'q"uote \\back ${interp} $${double} \'\'${indented} \n newline\ttab\r end ☃ `x`'
FLAKE_REF = "path:/nix/store/abc-source?dir=nix"

SETTINGS = AgentSettings(
    runtime="claude",
    model="claude-opus-4-1",
    budget_usd_per_day=2.5,
    allowed_tools=("Read", "Edit", "Bash(git *)", "Bash(nix build .*)", "mcp__hive", HOSTILE),
    extra_mcp_servers=(
        McpServerSpec(name="bitburner", command="bitburner-mcp",
                      args=("--port", "9000", HOSTILE),
                      env={"BB_TOKEN_FILE": "/state/bb", "WEIRD": HOSTILE}),
        McpServerSpec(name="fs", command="mcp-fs"),
    ),
    private_users=True,
    packages=("ripgrep", "python3Packages.requests"),
)


def _paths(tmp_path: Path) -> dict[str, Path]:
    return {"state_dir": tmp_path / "agents" / "alice" / "state",
            "run_dir": tmp_path / "agents" / "alice" / "run"}


def _render(tmp_path: Path, s: AgentSettings = SETTINGS, **kw: Any) -> str:
    return render_agent_flake("alice", s, hivetui_flake=FLAKE_REF, system="x86_64-linux",
                              **_paths(tmp_path), **kw)


# --- the text ----------------------------------------------------------------------------------
def test_text_carries_every_setting(tmp_path: Path) -> None:
    text = _render(tmp_path)
    assert 'model = "claude-opus-4-1";' in text
    assert '"Bash(git *)"' in text and '"Bash(nix build .*)"' in text and '"mcp__hive"' in text
    assert 'name = "bitburner";' in text and 'command = "bitburner-mcp";' in text
    assert '"--port"' in text and '"9000"' in text
    assert '"BB_TOKEN_FILE" = "/state/bb";' in text
    assert 'name = "fs";' in text and "env = { };" in text
    assert '"ripgrep"' in text and '"python3Packages.requests"' in text
    assert "privateUsers = true;" in text
    assert f'stateDir = "{tmp_path}/agents/alice/state";' in text
    assert f'hivetui.url = "{FLAKE_REF}";' in text
    assert 'nixpkgs.follows = "hivetui/nixpkgs";' in text
    assert 'nixosConfigurations."h-alice" = nixpkgs.lib.nixosSystem' in text
    assert "./agent.nix" in text


def test_private_users_off_and_nixpkgs_pin(tmp_path: Path) -> None:
    off = AgentSettings(private_users=False)
    text = _render(tmp_path, off, nixpkgs_flake="path:/nix/store/np-source")
    assert "privateUsers = false;" in text
    assert 'nixpkgs.url = "path:/nix/store/np-source";' in text
    assert "follows" not in text


def test_hostile_strings_never_escape_their_literal(tmp_path: Path) -> None:
    text = _render(tmp_path)
    # no raw ${ and no raw newline inside a string: every $ is escaped
    assert "${interp}" not in text.replace("\\${interp}", "")
    assert nix_str(HOSTILE) in text
    assert "\n newline" not in text


def test_nix_str_escapes() -> None:
    assert nix_str('a"b') == '"a\\"b"'
    assert nix_str("a\\b") == '"a\\\\b"'
    assert nix_str("${x}") == '"\\${x}"'
    assert nix_str("$${x}") == '"\\$\\${x}"'
    assert nix_str("l1\nl2") == '"l1\\nl2"'
    with pytest.raises(ContainerError, match="NUL"):
        nix_str("a\0b")


@pytest.mark.parametrize(("kw", "match"), [
    ({"state_dir": Path("relative/state")}, "absolute path"),
    ({"run_dir": Path("/with space/run")}, "whitespace"),
    ({"run_dir": Path("/a:b")}, "':'"),
    ({"hivetui_flake": ""}, "flake reference"),
    ({"hivetui_flake": "path:/x y"}, "flake reference"),
])
def test_refusals(tmp_path: Path, kw: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {**_paths(tmp_path), "hivetui_flake": FLAKE_REF, **kw}
    with pytest.raises(ContainerError, match=match):
        render_agent_flake("alice", SETTINGS, system="x86_64-linux", **args)


def test_bad_agent_name_refused(tmp_path: Path) -> None:
    with pytest.raises(NameError_):
        render_agent_flake("Alice_1", SETTINGS, hivetui_flake=FLAKE_REF, **_paths(tmp_path))


def test_nix_system() -> None:
    assert nix_system("x86_64") == "x86_64-linux"
    assert nix_system("arm64") == "aarch64-linux"
    with pytest.raises(ContainerError, match="riscv"):
        nix_system("riscv128")


def test_nspawn_conf(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    on = nspawn_conf(SETTINGS, **p, extra_binds=(Bind(tmp_path / "agents", "/agents", True),))
    assert on["PRIVATE_USERS"] == "pick"
    assert on["EXTRA_NSPAWN_FLAGS"].split() == [
        f"--bind={p['state_dir']}:/state:idmap",
        f"--bind-ro={p['run_dir']}:/run/hive:idmap",
        f"--bind={tmp_path}/agents:/agents:idmap",
    ]
    off = nspawn_conf(AgentSettings(private_users=False), **p)
    assert off["PRIVATE_USERS"] == ""
    assert ":idmap" not in off["EXTRA_NSPAWN_FLAGS"]


def test_write_agent_flake(tmp_path: Path) -> None:
    ref = write_agent_flake(tmp_path / "flake", "alice", SETTINGS, hivetui_flake=FLAKE_REF,
                            system="x86_64-linux", **_paths(tmp_path))
    assert ref == f"path:{tmp_path}/flake#h-alice"
    assert (tmp_path / "flake" / "agent.nix").read_text() == agent_template_path().read_text()
    lock = tmp_path / "flake" / "flake.lock"
    lock.write_text("{}")
    write_agent_flake(tmp_path / "flake", "alice", SETTINGS.with_model("m2"),
                      hivetui_flake=FLAKE_REF, system="x86_64-linux", **_paths(tmp_path))
    assert 'model = "m2";' in (tmp_path / "flake" / "flake.nix").read_text()
    assert lock.read_text() == "{}", "a re-render must keep the agent's pinned inputs"


# --- parsed and evaluated by Nix ----------------------------------------------------------------
def _eval_flake(tmp_path: Path, s: AgentSettings, **kw: Any) -> Any:
    nix_instantiate()
    write_agent_flake(tmp_path / "flake", "alice", s, hivetui_flake=FLAKE_REF,
                      system="x86_64-linux", **_paths(tmp_path), **kw)
    assert nix_parse(tmp_path / "flake" / "flake.nix").returncode == 0
    stub = nix_path(write_stub(tmp_path))
    flake = nix_path(tmp_path / "flake" / "flake.nix")
    # nixosSystem of the stub: instantiate modules[0] (agent.nix) with modules[1]'s hive.agent.
    return nix_eval_json(f"""
      let
        stub = import {stub};
        nixpkgs = stub.nixpkgs // {{ lib = stub.lib // {{
          nixosSystem = {{ system, modules }}:
            stub.evalModule (builtins.elemAt modules 0)
              {{ hive.agent = {{ harnessArgs = [ ]; }}
                              // (builtins.elemAt modules 1).hive.agent; }};
        }}; }};
        python = stub.pkg "python3" // {{ sitePackages = "lib/python3/site-packages"; }};
        hivetui = {{ packages.x86_64-linux.hivetui =
                       stub.pkg "hivetui" // {{ passthru.python = python; }}; }};
        out = (import {flake}).outputs {{ self = out; inherit nixpkgs hivetui; }};
        sys = out.nixosConfigurations."h-alice";
        svc = sys.config.systemd.services.hivetui-harness;
      in {{
        hiveAgent = out.hiveAgent;
        agentJson = builtins.fromJSON sys.config.environment.etc."hivetui/agent.json".text;
        mcpJson = builtins.fromJSON sys.config.environment.etc."hivetui/mcp-servers.json".text;
        nspawn = sys.options.hive.agent.nspawn.default;
        assertions = map (a: a.assertion) sys.config.assertions;
        execStart = svc.serviceConfig.ExecStart;
        path = map (p: p.name) svc.path;
        systemPackages = map (p: p.name) sys.config.environment.systemPackages;
        unfreeOk = sys.config.nixpkgs.config.allowUnfreePredicate (stub.pkg "claude-code");
        unfreeOther = sys.config.nixpkgs.config.allowUnfreePredicate (stub.pkg "vscode");
        unit = svc.unitConfig;
        env = svc.environment;
        firewall = sys.config.networking.firewall.enable;
        forward = sys.config.systemd.services.hivetui-forward or null;
        isContainer = sys.config.boot.isContainer;
      }}""")


def test_evaluated_flake_gives_back_the_settings(tmp_path: Path) -> None:
    binds = (Bind(tmp_path / "agents", "/agents", writable=True),)
    out = _eval_flake(tmp_path, SETTINGS, extra_binds=binds)
    # hostile strings survive the trip Python -> Nix text -> Nix value unchanged
    assert out["agentJson"] == {"name": "alice", "runtime": "claude",
                                "settings": SETTINGS.model_dump(mode="json")}
    assert out["hiveAgent"]["allowedTools"] == list(SETTINGS.allowed_tools)
    assert out["mcpJson"] == {"mcpServers": {
        "bitburner": {"command": "bitburner-mcp", "args": ["--port", "9000", HOSTILE],
                      "env": {"BB_TOKEN_FILE": "/state/bb", "WEIRD": HOSTILE}},
        "fs": {"command": "mcp-fs", "args": [], "env": {}}}}
    # host side: agent.nix and the Python helper agree on the .conf values
    assert out["nspawn"] == nspawn_conf(SETTINGS, **_paths(tmp_path), extra_binds=binds)
    assert all(out["assertions"])
    assert parse_systemd_exec(out["execStart"]) == [
        "/nix/store/stub-hivetui/bin/hivetui", "harness", "--run-dir", "/run/hive",
        "--state-dir", "/state"]
    assert {"hivetui", "claude-code", "ripgrep", "requests", "git"} <= set(out["path"])
    assert {"hivetui", "claude-code", "ripgrep", "requests"} <= set(out["systemPackages"])
    assert out["unfreeOk"] is True and out["unfreeOther"] is False
    assert out["unit"]["FailureAction"] == "exit"
    assert out["unit"]["RequiresMountsFor"] == ["/state", "/run/hive"]
    assert out["env"]["HIVETUI_AGENT"] == "alice"
    assert out["env"]["HIVETUI_AGENT_JSON"] == "/etc/hivetui/agent.json"
    assert out["firewall"] is False and out["isContainer"] is True


def test_a_private_network_is_rendered_with_its_forwarder_and_proxy(tmp_path: Path) -> None:
    """The default: PRIVATE_NETWORK=1 (loopback only), a forwarder service for every
    forwarded port, the proxy variables for the harness, the allow list in agent.json."""
    s = AgentSettings(runtime="scripted:echo", network=NetworkSettings(allow=("github.com:443",)))
    assert "privateNetwork = true;" in _render(tmp_path, s)
    out = _eval_flake(tmp_path, s)
    assert out["nspawn"]["PRIVATE_NETWORK"] == "1"
    assert out["agentJson"]["settings"]["network"] == {"allow": ["github.com:443"]}
    assert out["env"]["HIVETUI_NET"] == "private"
    assert out["env"]["HTTPS_PROXY"] == out["env"]["http_proxy"] == "http://127.0.0.1:7803"
    assert out["env"]["NO_PROXY"] == "127.0.0.1,localhost"
    argv = parse_systemd_exec(out["forward"]["serviceConfig"]["ExecStart"])
    assert argv == ["/nix/store/stub-python3/bin/python3", "-m", "hivetui.containers.forward",
                        "7801=/run/hive/net/bridge.sock", "7802=/run/hive/net/broker.sock",
                        "7803=/run/hive/net/proxy.sock"]
    assert out["forward"]["before"] == ["hivetui-harness.service"]


def test_host_network_is_rendered_without_forwarder_or_proxy(tmp_path: Path) -> None:
    s = AgentSettings(runtime="scripted:echo", network="host")
    assert "privateNetwork = false;" in _render(tmp_path, s)
    out = _eval_flake(tmp_path, s)
    assert out["nspawn"]["PRIVATE_NETWORK"] == "0"
    assert out["agentJson"]["settings"]["network"] == "host"
    assert out["env"]["HIVETUI_NET"] == "host"
    assert "HTTPS_PROXY" not in out["env"]
    assert not out["forward"]


def test_evaluated_flake_without_private_users_or_claude(tmp_path: Path) -> None:
    s = AgentSettings(runtime="scripted:echo", private_users=False, allowed_tools=())
    out = _eval_flake(tmp_path, s)
    assert out["agentJson"]["settings"] == s.model_dump(mode="json")
    assert out["nspawn"]["PRIVATE_USERS"] == ""
    assert ":idmap" not in out["nspawn"]["EXTRA_NSPAWN_FLAGS"]
    assert "claude-code" not in out["path"]
    assert out["mcpJson"] == {"mcpServers": {}}


_TRICKY = ["$", "{", "}", "${", '"', "\\", "\n", "\r", "\t", "''", "'", "a", " ", "☃", "#"]
_text = st.one_of(
    st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20),
    st.lists(st.sampled_from(_TRICKY), max_size=12).map("".join),
)


@settings(max_examples=15, deadline=None)
@given(model=st.from_regex(r"[A-Za-z0-9._:/@\[\]+-]{1,100}", fullmatch=True),  # MODEL_RULE
       tools=st.lists(_text, max_size=4),
       env=st.dictionaries(_text, _text, max_size=3))
def test_any_string_round_trips(tmp_path_factory: pytest.TempPathFactory, model: str,
                                tools: list[str], env: dict[str, str]) -> None:
    tmp_path = tmp_path_factory.mktemp("rt")
    s = AgentSettings(model=model, allowed_tools=tuple(tools),
                      extra_mcp_servers=(McpServerSpec(name="x", command="cmd",
                                                       args=tuple(tools), env=env),))
    nix_instantiate()
    text = _render(tmp_path, s)
    (tmp_path / "flake.nix").write_text(text)
    got = nix_eval_json(f"((import {nix_path(tmp_path / 'flake.nix')}).outputs"
                        " { nixpkgs = { }; hivetui = { }; }).hiveAgent")
    assert got["model"] == model
    assert got["allowedTools"] == tools
    assert got["mcpServers"] == [{"name": "x", "command": "cmd", "args": tools, "env": env}]


def test_the_agents_own_agent_nix_is_a_module_of_its_container(tmp_path: Path) -> None:
    own = "# alice's extras\n{ pkgs, ... }:\n{\n  environment.systemPackages = [ pkgs.git ];\n}\n"
    write_agent_flake(tmp_path / "flake", "alice", SETTINGS, hivetui_flake=FLAKE_REF,
                      system="x86_64-linux", nix_module=own, **_paths(tmp_path))
    assert (tmp_path / "flake" / "agent-config.nix").read_text() == own
    nix_instantiate()
    for name in ("flake.nix", "agent-config.nix"):
        assert nix_parse(tmp_path / "flake" / name).returncode == 0
    stub = nix_path(write_stub(tmp_path))
    flake = nix_path(tmp_path / "flake" / "flake.nix")
    out = nix_eval_json(f"""
      let
        stub = import {stub};
        nixpkgs = stub.nixpkgs // {{ lib = stub.lib // {{
          nixosSystem = {{ system, modules }}: modules; }}; }};
        python = stub.pkg "python3" // {{ sitePackages = "lib/python3/site-packages"; }};
        hivetui = {{ packages.x86_64-linux.hivetui =
                       stub.pkg "hivetui" // {{ passthru.python = python; }}; }};
        out = (import {flake}).outputs {{ self = out; inherit nixpkgs hivetui; }};
        modules = out.nixosConfigurations."h-alice";
        own = stub.evalModule (builtins.elemAt modules 2) {{ }};
      in {{
        count = builtins.length modules;
        settingsModel = (builtins.elemAt modules 1).hive.agent.model;
        ownPackages = map (p: p.name) own.environment.systemPackages;
      }}""")
    assert out == {"count": 3, "settingsModel": SETTINGS.model, "ownPackages": ["git"]}
    # no agent.nix in the repo (or an empty one): an empty module, so the list never changes
    write_agent_flake(tmp_path / "flake", "alice", SETTINGS, hivetui_flake=FLAKE_REF,
                      system="x86_64-linux", nix_module="  \n", **_paths(tmp_path))
    assert nix_parse(tmp_path / "flake" / "agent-config.nix").returncode == 0
    assert "{ ... }:" in (tmp_path / "flake" / "agent-config.nix").read_text()
