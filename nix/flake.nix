{
  description = "hivetui: run a hive of autonomous coding agents, safely, from a terminal UI";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        hivetui = pkgs.callPackage ./package.nix { };
        default = hivetui;
      });

      overlays.default = final: prev: { hivetui = final.callPackage ./package.nix { }; };

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            ((pkgs.callPackage ./package.nix { }).passthru.python.withPackages (
              ps:
              import ./python-deps.nix ps
              ++ (with ps; [
                hatchling
                pytest
                pytest-asyncio
                pytest-timeout
                hypothesis
                mypy
              ])
            ))
            pkgs.ruff
            pkgs.git
            pkgs.bubblewrap
            pkgs.nix # nix-instantiate --parse, as CI runs it
          ];
          shellHook = ''
            echo "hivetui dev shell: pytest tests/, ruff check ., mypy"
          '';
        };
      });

      nixosModules.hivetui =
        { lib, pkgs, ... }:
        {
          imports = [ ./module.nix ];
          services.hivetui.package =
            lib.mkDefault
              self.packages.${pkgs.stdenv.hostPlatform.system}.hivetui;
          # Agent flakes take package, nixpkgs and agent.nix from this very flake.
          services.hivetui.agentFlake = lib.mkDefault "path:${self.sourceInfo.outPath}?dir=nix";
          # ... and are built from the same nixpkgs as the host, offline.
          services.hivetui.agentNixpkgs = lib.mkDefault "path:${nixpkgs.outPath}";
        };
      nixosModules.default = self.nixosModules.hivetui;

      # The per-agent container template (see agent.nix).
      nixosModules.agent = ./agent.nix;
    };
}
