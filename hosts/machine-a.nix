# Machine A, the brain: both RTX 3060s, swapd and llama-server. Completed by the Nix issue.
{ ... }:
{
  imports = [
    # ./hardware-configuration/machine-a.nix  # PLACEHOLDER: your `nixos-generate-config` output
  ];
  networking.hostName = "machine-a";
  services.variet.swapd.enable = true;
  system.stateVersion = "25.11";
}
