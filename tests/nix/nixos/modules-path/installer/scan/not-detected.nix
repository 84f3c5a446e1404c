# Stand-in for nixos/modules/installer/scan/not-detected.nix, which every
# `nixos-generate-config --show-hardware-config` output imports.
{ lib, ... }:
{
  hardware.enableRedistributableFirmware = lib.mkDefault true;
}
