# After nixos/modules/tasks/filesystems.nix, config/swap.nix, system/boot/kernel.nix and
# system/boot/stage-1.nix (whose assertion asks for a root file system).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  fileSystem =
    { name, config, ... }:
    {
      options = {
        mountPoint = mkOption {
          type = types.nonEmptyStr;
          default = name;
        };
        device = mkOption {
          type = types.nullOr types.nonEmptyStr;
          default = null;
        };
        label = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        fsType = mkOption {
          type = types.nonEmptyStr;
          default = "auto";
        };
        options = mkOption {
          type = types.nonEmptyListOf types.nonEmptyStr;
          default = [ "defaults" ];
        };
        neededForBoot = mkOption {
          type = types.bool;
          default = false;
        };
      };
      config.device = lib.mkIf (config.label != null) (lib.mkDefault "/dev/disk/by-label/${config.label}");
    };
in
{
  options = {
    fileSystems = mkOption {
      type = types.attrsOf (types.submodule fileSystem);
      default = { };
    };
    swapDevices = mkOption {
      type = types.listOf (
        types.submodule {
          options.device = mkOption { type = types.str; };
        }
      );
      default = [ ];
    };
    boot = {
      initrd = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        availableKernelModules = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        kernelModules = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
      };
      kernelModules = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      extraModulePackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
    };
  };

  config.assertions = lib.mkIf config.boot.initrd.enable [
    {
      assertion = lib.any (fs: fs.mountPoint == "/") (lib.attrValues config.fileSystems);
      message = "The ‘fileSystems’ option does not specify your root file system.";
    }
  ];
}
