# PLACEHOLDER hardware for Machine B: a UEFI PC partitioned as in the NixOS manual (root file system
# labelled `nixos`, EFI system partition labelled `boot`), so that a fresh clone evaluates.
#
# Replace the part below "REPLACE" with the output of `nixos-generate-config --show-hardware-config`
# run on Machine B (its file systems, kernel modules and CPU microcode). KEEP the boot loader block:
# nixos-generate-config never writes one, and NixOS refuses to build a system without a boot loader.
{ lib, modulesPath, ... }:
{
  # Boot loader: keep this block (systemd-boot on UEFI; the ESP is mounted at /boot below).
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  # REPLACE from here with `nixos-generate-config --show-hardware-config`.
  imports = [ (modulesPath + "/installer/scan/not-detected.nix") ];

  # Disk and USB controllers the initrd needs to find the root file system on a current PC.
  boot.initrd.availableKernelModules = [
    "nvme"
    "xhci_pci"
    "ahci"
    "usbhid"
    "usb_storage"
    "sd_mod"
  ];
  boot.initrd.kernelModules = [ ];
  boot.kernelModules = [ ];
  boot.extraModulePackages = [ ];

  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-label/boot";
    fsType = "vfat";
    options = [
      "fmask=0077"
      "dmask=0077"
    ];
  };
  swapDevices = [ ];

  networking.useDHCP = lib.mkDefault true;
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
}
