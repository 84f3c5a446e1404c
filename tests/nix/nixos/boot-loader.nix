# After nixos/modules/system/boot/loader/grub/grub.nix (on unless another boot loader turns it off, and
# then asking for a device), loader/systemd-boot/systemd-boot.nix and loader/efi.nix.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  grub = config.boot.loader.grub;
in
{
  options.boot.loader = {
    grub = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      device = mkOption {
        type = types.str;
        default = "";
      };
      devices = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      mirroredBoots = mkOption {
        type = types.listOf (
          types.submodule {
            options = {
              path = mkOption { type = types.str; };
              devices = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
            };
          }
        );
        default = [ ];
      };
      efiSupport = mkOption {
        type = types.bool;
        default = false;
      };
    };
    systemd-boot = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      configurationLimit = mkOption {
        type = types.nullOr types.int;
        default = null;
      };
    };
    efi = {
      canTouchEfiVariables = mkOption {
        type = types.bool;
        default = false;
      };
      efiSysMountPoint = mkOption {
        type = types.str;
        default = "/boot";
      };
    };
  };

  config = lib.mkMerge [
    (lib.mkIf config.boot.loader.systemd-boot.enable { boot.loader.grub.enable = lib.mkDefault false; })
    (lib.mkIf grub.enable {
      boot.loader.grub.devices = lib.optional (grub.device != "") grub.device;
      boot.loader.grub.mirroredBoots = lib.optionals (grub.devices != [ ]) [
        {
          path = "/boot";
          inherit (grub) devices;
        }
      ];
      assertions = [
        {
          assertion = grub.mirroredBoots != [ ];
          message =
            "You must set the option ‘boot.loader.grub.devices’ or "
            + "'boot.loader.grub.mirroredBoots' to make the system bootable.";
        }
      ];
    })
  ];
}
