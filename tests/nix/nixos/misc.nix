# After nixos/modules/misc/assertions.nix, misc/version.nix, config/locale.nix, misc/nixpkgs.nix,
# config/nix.nix and system/activation/top-level.nix.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;

  # nixpkgs.nix: `nixpkgs.config` is merged recursively; overlays are functions.
  configType = lib.mkOptionType {
    name = "nixpkgs-config";
    description = "nixpkgs config";
    check = x: lib.isAttrs x || lib.isFunction x;
    merge = _: defs: lib.foldr (def: acc: lib.recursiveUpdate acc def.value) { } defs;
  };
  overlayType = lib.mkOptionType {
    name = "nixpkgs-overlay";
    description = "nixpkgs overlay";
    check = lib.isFunction;
    merge = lib.mergeOneOption;
  };
  # nix.nix: the values nix.conf can hold.
  confAtom =
    with types;
    nullOr (oneOf [
      bool
      int
      float
      str
      path
      package
    ]);
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      internal = true;
      default = [ ];
    };

    system.stateVersion = mkOption { type = types.str; };

    time.timeZone = mkOption {
      type = types.nullOr (types.addCheck types.str (s: !lib.hasInfix " " s));
      default = null;
    };

    nixpkgs = {
      config = mkOption {
        type = configType;
        default = { };
      };
      overlays = mkOption {
        type = types.listOf overlayType;
        default = [ ];
      };
      hostPlatform = mkOption { type = types.either types.str types.attrs; };
    };

    nix.settings = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf (types.either confAtom (types.listOf confAtom));
        options = {
          substituters = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
          trusted-public-keys = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
        };
      };
      default = { };
    };

    # What `nixos-rebuild` builds: a failed assertion stops it with NixOS's own message; otherwise its
    # path depends, as the real one does, on every unit, /etc file, account, package and firewall rule,
    # so reading it forces (and type-checks) all of them.
    system.build.toplevel = mkOption {
      type = types.unspecified;
      readOnly = true;
    };
  };

  config.system.build.toplevel = lib.asserts.checkAssertWarn config.assertions config.warnings (
    pkgs.runCommand "nixos-system-${config.networking.hostName}" {
      etc = map (file: file.source) (lib.filter (file: file.enable) (lib.attrValues config.environment.etc));
      units = builtins.toJSON (lib.filterAttrs (_: unit: unit.enable) config.systemd.services);
      accounts = builtins.toJSON { inherit (config.users) users groups; };
      packages = config.environment.systemPackages;
      network = builtins.toJSON {
        inherit (config.networking)
          hostName
          hosts
          interfaces
          firewall
          ;
      };
      boot = builtins.toJSON {
        inherit (config) fileSystems swapDevices;
        inherit (config.boot) loader initrd kernelModules;
      };
    } ""
  );
}
