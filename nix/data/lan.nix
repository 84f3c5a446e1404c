# The LAN both machines share, as pure data (no nixpkgs, no lib): Machine A's name and address, which
# Machine B declares in networking.hosts, and the interface Machine A opens swapd's port on.
#
# FILL IN: Machine A's LAN address (give it a fixed one: a DHCP reservation in your router, or a static
# address) and its LAN interface (`ip -br link` on Machine A).
{
  machineA = {
    name = "machine-a";
    address = "192.168.1.10"; # PLACEHOLDER
    interface = "enp5s0"; # PLACEHOLDER
  };
}
