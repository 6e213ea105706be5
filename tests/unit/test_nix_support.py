"""Helpers for the Nix tests: find ``nix-instantiate``, parse and evaluate offline.

nixpkgs is not available offline, so evaluation uses ``STUB_NIX``: a *fake* of
the few ``lib``/``pkgs``/``utils`` functions our .nix files call, each doing what
the nixpkgs function of that name is documented to do (``mkIf`` keeps or drops,
``escapeSystemdExecArgs`` JSON-quotes and doubles ``%``/``$``, …). Options come
back as attribute sets tagged ``_type = "option"`` so tests can walk them.
No tests here; the module is named ``test_nix_*`` only to stay in its owner's area.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NIX_DIR = REPO / "nix"


def nix_instantiate() -> str:
    """Path of nix-instantiate; skip locally, fail in CI (``CI`` set) when it is missing."""
    found = shutil.which("nix-instantiate")
    if found:
        return found
    reason = ("nix-instantiate is not installed (Debian package nix-bin: "
              "apt-get install -y nix-bin); the Nix files cannot be checked")
    if os.environ.get("CI"):
        pytest.fail(f"CI must install nix-bin: {reason}")
    pytest.skip(reason)


def nix_parse(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([nix_instantiate(), "--parse", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


def nix_eval_json(expr: str) -> Any:
    """Evaluate ``expr`` strictly (no store, no network) and return it as JSON data."""
    proc = subprocess.run(
        [nix_instantiate(), "--eval", "--strict", "--json", "-E", expr],
        capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"nix-instantiate --eval failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def nix_path(path: Path) -> str:
    """An absolute path as a Nix path literal (tmp paths have no spaces)."""
    text = str(path.resolve())
    assert " " not in text
    return text


def parse_systemd_exec(line: str) -> list[str]:
    """Invert ``escapeSystemdExecArgs``: JSON strings joined by spaces, ``%``/``$`` doubled."""
    text = line.replace("%%", "%").replace("$$", "$")
    decoder = json.JSONDecoder()
    args, i = [], 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        value, i = decoder.raw_decode(text, i)
        args.append(value)
    return args


# A stub of nixpkgs' lib/pkgs/utils, just enough for nix/*.nix. `writeText` and
# `formats.toml.generate` embed their content in the fake store path so a test
# can read what would have been written.
STUB_NIX = r"""
let
  b = builtins;
  option = attrs: attrs // { _type = "option"; };
  ty = name: extra: { _stubType = name; } // extra;
  pkg = name: { inherit name; pname = name; outPath = "/nix/store/stub-${name}";
                meta.mainProgram = name; type = "derivation"; };
  types = {
    str = ty "str" { }; bool = ty "bool" { }; path = ty "path" { };
    package = ty "package" { }; port = ty "port" { }; int = ty "int" { };
    number = ty "number" { };
    enum = values: ty "enum" { inherit values; };
    strMatching = re: ty "strMatching" { inherit re; };
    listOf = elem: ty "listOf" { inherit elem; };
    attrsOf = elem: ty "attrsOf" { inherit elem; };
    nullOr = elem: ty "nullOr" { inherit elem; };
    submodule = module: ty "submodule" { inherit module; };
    ints.between = min: max: ty "intsBetween" { inherit min max; };
    addCheck = t: check: t // { inherit check; };
  };
  attrByPath = path: default: set:
    if path == [ ] then set
    else if b.isAttrs set && set ? ${b.head path}
    then attrByPath (b.tail path) default set.${b.head path}
    else default;
  lib = rec {
    inherit types attrByPath;
    mkOption = option;
    mkEnableOption = what: option { type = types.bool; default = false;
                                    description = "Whether to enable ${what}."; };
    mkIf = cond: value: if cond then value else { };
    mkDefault = v: v;
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    optional = c: v: if c then [ v ] else [ ];
    optionals = c: v: if c then v else [ ];
    optionalString = c: s: if c then s else "";
    optionalAttrs = c: a: if c then a else { };
    concatStringsSep = b.concatStringsSep;
    concatMapStrings = f: l: b.concatStringsSep "" (map f l);
    concatMapStringsSep = sep: f: l: b.concatStringsSep sep (map f l);
    sublist = start: count: l:
      let n = b.length l - start; m = if count < n then count else n;
      in b.genList (i: b.elemAt l (start + i)) (if m < 0 then 0 else m);
    splitString = sep: s: b.filter b.isString (b.split "[${sep}]" s);
    last = l: b.elemAt l (b.length l - 1);
    toInt = s: b.fromJSON s;
    hasPrefix = p: s: b.substring 0 (b.stringLength p) s == p;
    removePrefix = p: s:
      if hasPrefix p s then b.substring (b.stringLength p) (b.stringLength s) s else s;
    getExe = drv: "${drv}/bin/${drv.meta.mainProgram}";
    getName = p: p.pname or p.name;
    listToAttrs = b.listToAttrs;
    nameValuePair = name: value: { inherit name value; };
    all = b.all;
    genAttrs = names: f: b.listToAttrs (map (n: { name = n; value = f n; }) names);
    mapAttrs = b.mapAttrs;
    importJSON = path: b.fromJSON (b.readFile path);
    licenses.mit = "MIT";
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
    makeBinPath = ps: b.concatStringsSep ":" (map (p: "${p}/bin") ps);
    fileset = {
      toSource = { root, fileset }: { _type = "fileset-source"; };
      unions = l: l;
      maybeMissing = p: p;
    };
  };
  utils.escapeSystemdExecArgs = args: b.concatStringsSep " "
    (map (a: b.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (b.toJSON "${a}")) args);
  pyNames = [ "click" "textual" "asyncssh" "aiosqlite" "pexpect" "ptyprocess" "mcp" "pyte"
              "textual-plotext" "uvicorn" "httptools" "pydantic-settings" "xdg-base-dirs"
              "hatchling" "pytest" "pytest-asyncio"
              "pytest-timeout" "hypothesis" "mypy" "requests"
              # dependencies of python-overrides.nix
              "h11" "truststore" "anyio" "idna" "typing-extensions" "pydantic" "jsonschema"
              "opentelemetry-api" "pyjwt" "cryptography" "python-multipart" "sse-starlette"
              "starlette" "typing-inspection" "markdown-it-py" "linkify-it-py"
              "mdit-py-plugins" "platformdirs" "pygments" "rich" ];
  python3Packages = lib.genAttrs pyNames pkg // {
    buildPythonApplication = args: args // { _stub = "buildPythonApplication"; };
    buildPythonPackage = args: args // { _stub = "buildPythonPackage"; };
    fetchPypi = args: args // { _stub = "fetchPypi"; };
  };
  # python3.override { packageOverrides; self; }: the overrides' fixed point, as nixpkgs does.
  mkPython = ps: {
    pkgs = ps;
    override = { packageOverrides, ... }:
      let fixed = ps // packageOverrides fixed ps; in mkPython fixed;
    withPackages = f: { _stub = "python-env"; pythonPackages = map (p: p.pname) (f ps); };
  };
  pkgs = lib.genAttrs [ "git" "util-linux" "bubblewrap" "bash" "coreutils" "claude-code"
                        "ripgrep" "ruff" "nix" ] pkg // {
    inherit python3Packages lib;
    python3 = mkPython python3Packages;
    mkShell = args: args // { _stub = "mkShell"; };
    callPackage = f: overrides:
      import f ({ inherit lib; inherit (pkgs) python3 git bubblewrap; } // overrides);
    formats.toml = _: {
      type = ty "toml" { };
      generate = name: value: { outPath = "/nix/store/stub-${name}<${b.toJSON value}>"; };
    };
    writeText = name: text: { outPath = "/nix/store/stub-${name}<${text}>"; };
    stdenv.hostPlatform.system = "x86_64-linux";
  };

  # Every option below `opts`: { path = [ "services" "hivetui" ... ]; hasDescription; }.
  walk = path: v:
    if b.isAttrs v && (v._type or null) == "option" then
      [ { path = b.concatStringsSep "." path;
          hasDescription = b.isString (v.description or null) && v.description != ""; } ]
      ++ walkType path (v.type or null)
    else if b.isAttrs v then b.concatMap (n: walk (path ++ [ n ]) v.${n}) (b.attrNames v)
    else [ ];
  walkType = path: t:
    if t == null || !(t ? _stubType) then [ ]
    else if t._stubType == "submodule" then
      walk (path ++ [ "*" ]) (if b.isFunction t.module
                               then (t.module { name = "x"; config = { }; inherit lib; }).options
                               else t.module.options)
    else if t ? elem then walkType path t.elem
    else [ ];
in
{
  inherit lib pkgs utils walk pkg;
  nixpkgs = { inherit lib; legacyPackages = lib.genAttrs lib.platforms.linux (_: pkgs);
              outPath = "/nix/store/stub-nixpkgs"; };
  # `import module { ... }` with a given config (no module system: no merging, no defaults).
  evalModule = file: config: import file { inherit config lib pkgs utils; };
}
"""


def write_stub(directory: Path) -> Path:
    path = directory / "stub.nix"
    path.write_text(STUB_NIX, encoding="utf-8")
    return path
