# Machine B, the hands and eyes: the assistant, its MCP servers and VS Code. Completed by the Nix issue.
{ ... }:
{
  imports = [
    # ./hardware-configuration/machine-b.nix  # PLACEHOLDER: your `nixos-generate-config` output
  ];
  networking.hostName = "machine-b";
  services.variet.assistant.enable = true;
  system.stateVersion = "25.11";
}
