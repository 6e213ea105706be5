# hivetui as a Python application (pyproject / hatchling build of this repo).
{
  lib,
  python3,
  git,
  bubblewrap,
}:

let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
  # nixpkgs' Python, with the few libraries hivetui needs newer (MCP SDK 2.x, textual 8).
  python = python3.override {
    packageOverrides = import ./python-overrides.nix;
    self = python;
  };
  python3Packages = python.pkgs;
in
python3Packages.buildPythonApplication {
  pname = "hivetui";
  inherit (pyproject.project) version;
  pyproject = true;

  # The repository root (../.), narrowed to what the wheel needs so a local
  # .venv or state directory never lands in the store. `nix` is part of it:
  # the wheel force-includes nix/ as hivetui/nix (the agent template).
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../hivetui
      ../styles
      ../nix
      (lib.fileset.maybeMissing ../README.md)
      (lib.fileset.maybeMissing ../LICENSE)
    ];
  };

  build-system = [ python3Packages.hatchling ];
  dependencies = import ./python-deps.nix python3Packages;

  # nixpkgs may trail pyproject's lower bounds by a release; the test suite,
  # not the resolver, is the judge of compatibility.
  pythonRelaxDeps = true;

  # The config repos are git repositories; the local backend isolates agents
  # with bubblewrap.
  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [
      git
      bubblewrap
    ])
  ];

  pythonImportsCheck = [ "hivetui" ];

  # The dev shell builds its interpreter from the same package set.
  passthru = { inherit python; };

  meta = {
    description = pyproject.project.description;
    license = lib.licenses.mit;
    mainProgram = "hivetui";
    platforms = lib.platforms.linux;
  };
}
