# After nixos/lib/testing/network.nix and nixos/modules/virtualisation/qemu-vm.nix: what the NixOS test
# driver gives every node of a VM test: its name, one interface per VLAN (eth1, eth2, … with address
# 192.168.<vlan>.<node number>), the other nodes' names in /etc/hosts, and a root disk without a boot
# loader to install.
{
  name,
  number,
  # node name -> its first address, for /etc/hosts.
  addresses,
}:
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.virtualisation = {
    vlans = mkOption {
      type = types.listOf types.ints.unsigned;
      default = [ 1 ];
    };
    memorySize = mkOption {
      type = types.ints.positive;
      default = 1024;
    };
    cores = mkOption {
      type = types.ints.positive;
      default = 1;
    };
  };

  config = {
    networking.hostName = lib.mkDefault name;
    networking.interfaces = lib.listToAttrs (
      lib.imap1 (
        index: vlan:
        lib.nameValuePair "eth${toString index}" {
          ipv4.addresses = [
            {
              address = "192.168.${toString vlan}.${toString number}";
              prefixLength = 24;
            }
          ];
        }
      ) config.virtualisation.vlans
    );
    networking.hosts = lib.zipAttrs (lib.mapAttrsToList (node: address: { ${address} = node; }) addresses);
    fileSystems."/" = lib.mkOverride 10 {
      device = "/dev/vda";
      fsType = "ext4";
    };
    boot.loader.grub.device = lib.mkOverride 10 "nodev";
  };
}
