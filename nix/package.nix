# hivetui as a Python application (pyproject / hatchling build of this repo).
{
  lib,
  python3Packages,
  git,
  bubblewrap,
}:

let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
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

  meta = {
    description = pyproject.project.description;
    license = lib.licenses.mit;
    mainProgram = "hivetui";
    platforms = lib.platforms.linux;
  };
}
