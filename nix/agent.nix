# The per-agent container: the NixOS configuration of nixos-container h-<name>.
#
# The nixos backend renders a flake per agent (hivetui/containers/nix_render.py)
# next to a copy of this file and sets `hive.agent.*` from the agent's
# settings.toml: model, allow-list, extra MCP servers, packages, private users.
#
# Host side (imperative containers take these from /etc/nixos-containers/h-<name>.conf,
# not from this configuration): `hive.agent.nspawn` is what that file must
# say — PRIVATE_USERS=pick, PRIVATE_NETWORK=1 (loopback only) and idmapped binds of
# /state and /run/hive — and nix_render.nspawn_conf() computes the same values in Python.
#
# Network: a private network has loopback only; `hivetui-forward` serves the core's
# services at fixed loopback ports (bridge, broker, egress proxy; hivetui/core/forwards.py)
# through the unix sockets in /run/hive/net, and the harness gets the proxy variables.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  inherit (lib) mkOption types optional;
  cfg = config.hive.agent;

  usesClaude = cfg.runtime == "claude";

  # "ripgrep", "python3Packages.requests": attribute paths into pkgs.
  resolvePackage =
    attrPath:
    lib.attrByPath (lib.splitString "." attrPath) (throw
      "hive.agent.packages: nixpkgs has no package ${attrPath}"
    ) pkgs;
  extraPackages = map resolvePackage cfg.packages;

  serverSettings = s: {
    inherit (s)
      name
      command
      args
      env
      ;
  };

  # Same shape as /run/hive/agent.json, which the core rewrites at every start;
  # this copy records what the container was built from.
  agentJson = builtins.toJSON {
    inherit (cfg) name runtime;
    settings = {
      inherit (cfg) runtime model packages;
      allowed_tools = cfg.allowedTools;
      private_users = cfg.privateUsers;
      mcp_servers = map serverSettings cfg.mcpServers;
      budget_usd_per_day = cfg.budgetUsdPerDay;
      network = if cfg.privateNetwork then { allow = cfg.networkAllow; } else "host";
    };
  };

  # claude's --mcp-config shape; the harness adds the "hive" bridge entry.
  mcpServersJson = builtins.toJSON {
    mcpServers = lib.listToAttrs (
      map (
        s:
        lib.nameValuePair s.name {
          inherit (s) command args env;
        }
      ) cfg.mcpServers
    );
  };

  binds = [
    {
      hostPath = cfg.stateDir;
      mountPoint = "/state";
      writable = true;
    }
    {
      hostPath = cfg.runDir;
      mountPoint = "/run/hive";
      writable = false;
    }
  ]
  ++ cfg.extraBinds;
  # With a private user namespace an idmapped bind shows host root's files as
  # the container's root's, so /state stays writable and nothing is chowned.
  idmap = lib.optionalString cfg.privateUsers ":idmap";
  bindFlag =
    b: (if b.writable then "--bind=" else "--bind-ro=") + "${b.hostPath}:${b.mountPoint}${idmap}";
  safePath = p: builtins.match "/[^ \t\n:]*" p != null;

  mcpServerModule = {
    options = {
      name = mkOption {
        type = types.strMatching "[A-Za-z0-9_-]+";
        description = "Server name; its tools appear to the model as `mcp__<name>__<tool>`.";
      };
      command = mkOption {
        type = types.str;
        description = "Program that speaks MCP over stdio (found on the harness's PATH).";
      };
      args = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Arguments to `command`.";
      };
      env = mkOption {
        type = types.attrsOf types.str;
        default = { };
        description = ''
          Environment for the server. It lands in the Nix store, world-readable:
          put secrets in /run/hive/env instead.
        '';
      };
    };
  };

  bindModule = {
    options = {
      hostPath = mkOption {
        type = types.str;
        description = "Directory on the host.";
      };
      mountPoint = mkOption {
        type = types.str;
        description = "Where it appears inside the container.";
      };
      writable = mkOption {
        type = types.bool;
        default = false;
        description = "Whether the container may write to it.";
      };
    };
  };
in
{
  options.hive.agent = {
    name = mkOption {
      type = types.strMatching "[a-z][a-z0-9-]{0,8}";
      description = "The agent's name; the container is `h-<name>`.";
    };
    runtime = mkOption {
      type = types.str;
      default = "claude";
      description = "Agent runtime run by the harness: `claude` or `scripted:<behaviour>`.";
    };
    model = mkOption {
      type = types.str;
      default = "claude-sonnet-4-5";
      description = "Model the claude runtime passes to `claude --model`.";
    };
    allowedTools = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "Read"
        "Bash(git *)"
        "mcp__hive"
      ];
      description = "claude-code `--allowedTools` rules; a tool not listed is denied.";
    };
    mcpServers = mkOption {
      type = types.listOf (types.submodule mcpServerModule);
      default = [ ];
      description = "Extra stdio MCP servers, registered beside the hive bridge.";
    };
    packages = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "ripgrep"
        "python3Packages.requests"
      ];
      description = "nixpkgs attribute paths installed in the container and on the harness's PATH.";
    };
    budgetUsdPerDay = mkOption {
      type = types.nullOr types.number;
      default = null;
      description = "What the agent's API use may cost per UTC day (the core's credential broker enforces it); null: no limit.";
    };
    privateUsers = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run the container in its own user namespace (`PRIVATE_USERS=pick`):
        root inside is an unprivileged uid range on the host, and the binds are
        idmapped.
      '';
    };
    stateDir = mkOption {
      type = types.str;
      description = "Host directory bound writable at /state (the agent's persistent files).";
    };
    runDir = mkOption {
      type = types.str;
      description = "Host directory bound read-only at /run/hive (agent.json, bridge.json, token).";
    };
    extraBinds = mkOption {
      type = types.listOf (types.submodule bindModule);
      default = [ ];
      description = "More host directories to bind (the manager gets /agents).";
    };
    package = mkOption {
      type = types.package;
      description = "The hivetui package whose `hivetui harness` runs inside.";
    };
    harnessArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra arguments for `hivetui harness`.";
    };
    privateNetwork = mkOption {
      type = types.bool;
      default = true;
      description = ''
        A network namespace of its own with loopback only (`PRIVATE_NETWORK=1`, no
        addresses): the way out is the core's egress proxy. false is settings.toml's
        `network = "host"`.
      '';
    };
    networkAllow = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "github.com:443" ];
      description = "host:port pairs the core's egress proxy lets this agent reach.";
    };
    forwards = mkOption {
      type = types.listOf (types.strMatching "[0-9]+=/[^ ]+");
      default = [ ];
      description = "PORT=SOCKET pairs the forwarder serves on 127.0.0.1 (private network).";
    };
    networkEnv = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = "HIVETUI_NET and the egress proxy variables, for the harness.";
    };
    nspawn = mkOption {
      type = types.attrsOf types.str;
      readOnly = true;
      default = {
        PRIVATE_USERS = if cfg.privateUsers then "pick" else "";
        PRIVATE_NETWORK = if cfg.privateNetwork then "1" else "0";
        EXTRA_NSPAWN_FLAGS = lib.concatMapStringsSep " " bindFlag binds;
      };
      description = ''
        Host-side settings for /etc/nixos-containers/h-<name>.conf (computed;
        imperative containers ignore .nspawn files and declarative options).
      '';
    };
  };

  config = {
    assertions = [
      {
        assertion = lib.all (b: safePath b.hostPath && safePath b.mountPoint) binds;
        message = "hive.agent: bind paths must be absolute, without spaces or ':' (systemd-nspawn --bind syntax).";
      }
    ];

    boot.isContainer = true;
    # Loopback only (or the host's network, flagged): nothing for a firewall to guard, and
    # on the host's network its own rules would replace the host's.
    networking.firewall.enable = false;
    networking.useHostResolvConf = lib.mkDefault true;
    documentation.enable = false;
    system.stateVersion = lib.mkDefault "25.05";

    # claude-code is unfree; allow exactly it.
    nixpkgs.config.allowUnfreePredicate = pkg: builtins.elem (lib.getName pkg) [ "claude-code" ];

    environment.systemPackages = [ cfg.package ] ++ optional usesClaude pkgs.claude-code ++ extraPackages;
    environment.etc."hivetui/agent.json".text = agentJson;
    environment.etc."hivetui/mcp-servers.json".text = mcpServersJson;

    systemd.services.hivetui-forward = lib.mkIf cfg.privateNetwork {
      description = "hivetui forwarder of the core's services for agent ${cfg.name}";
      wantedBy = [ "multi-user.target" ];
      before = [ "hivetui-harness.service" ];
      unitConfig.RequiresMountsFor = [ "/run/hive" ];
      serviceConfig = {
        ExecStart = utils.escapeSystemdExecArgs (
          [
            (lib.getExe cfg.package.passthru.python)
            "-m"
            "hivetui.containers.forward"
          ]
          ++ cfg.forwards
        );
        # stdlib and hivetui only: the package's own site-packages is enough
        Environment = [ "PYTHONPATH=${cfg.package}/${cfg.package.passthru.python.sitePackages}" ];
        Restart = "always";
        RestartSec = 1;
      };
    };

    systemd.services.hivetui-harness = {
      description = "hivetui harness for agent ${cfg.name}";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      path = [
        cfg.package
        pkgs.git
        pkgs.bash
        pkgs.coreutils
      ]
      ++ optional usesClaude pkgs.claude-code
      ++ extraPackages;
      # Values that may hold arbitrary text travel in files, not in
      # Environment= (systemd would expand % specifiers in them).
      environment = cfg.networkEnv // {
        HIVETUI_AGENT = cfg.name;
        HIVETUI_AGENT_JSON = "/etc/hivetui/agent.json";
        HIVETUI_MCP_SERVERS = "/etc/hivetui/mcp-servers.json";
        HOME = "/state";
        CLAUDE_CONFIG_DIR = "/state/.claude";
        DISABLE_AUTOUPDATER = "1";
      };
      unitConfig = {
        RequiresMountsFor = [
          "/state"
          "/run/hive"
        ];
        # The container lives as long as its harness: when the harness ends,
        # the container's systemd exits with the harness's status, so the host
        # sees container@h-<name> stop (and a crash as a failure).
        SuccessAction = "exit";
        FailureAction = "exit";
      };
      serviceConfig = {
        ExecStart = utils.escapeSystemdExecArgs (
          [
            (lib.getExe cfg.package)
            "harness"
            "--run-dir"
            "/run/hive"
            "--state-dir"
            "/state"
          ]
          ++ cfg.harnessArgs
        );
        # Secrets (ANTHROPIC_API_KEY, …) the core may place there.
        EnvironmentFile = "-/run/hive/env";
        WorkingDirectory = "/state";
        Restart = "no";
      };
    };
  };
}
