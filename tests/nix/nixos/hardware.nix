# After nixos/modules/hardware/graphics.nix, hardware/video/nvidia.nix (and its assertion that the
# kernel module flavour is chosen), hardware/cpu/*-microcode.nix, hardware/all-firmware.nix and
# services/x11/xserver.nix.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  bool = mkOption {
    type = types.bool;
    default = false;
  };
in
{
  options = {
    hardware = {
      graphics.enable = bool;
      enableRedistributableFirmware = bool;
      cpu.amd.updateMicrocode = bool;
      cpu.intel.updateMicrocode = bool;
      nvidia = {
        open = mkOption {
          type = types.nullOr types.bool;
          default = null;
        };
        nvidiaPersistenced = bool;
        modesetting.enable = bool;
      };
    };
    services.xserver.videoDrivers = mkOption {
      type = types.listOf types.str;
      default = [
        "modesetting"
        "fbdev"
      ];
    };
  };

  config.assertions = lib.mkIf (lib.elem "nvidia" config.services.xserver.videoDrivers) [
    {
      assertion = config.hardware.nvidia.open != null;
      message = ''
        You must configure `hardware.nvidia.open` on NVIDIA driver versions >= 560.
        It is suggested to use the open source kernel modules on Turing or later GPUs (RTX series, GTX 16xx), and the closed source modules otherwise.
      '';
    }
  ];
}
