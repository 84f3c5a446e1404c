# Machine B, the hands and eyes: the assistant (terminal chat, Discord bot, MCP tool servers), a local
# SearXNG on loopback, and VS Code with the Variet extension for the user.
{ pkgs, ... }:
let
  assistant = import ../nix/data/machine-b-assistant.nix;
  machineA = (import ../nix/data/lan.nix).machineA;
in
{
  # File systems, kernel modules and the boot loader: a placeholder until you replace it (README step 1).
  imports = [ (import ./hardware.nix "machine-b") ];

  networking.hostName = "machine-b";
  system.stateVersion = "25.11";
  time.timeZone = assistant.google.calendar.timezone;

  services.variet.assistant = {
    enable = true;
    inherit (assistant)
      swapd
      discord
      google
      ;
    searxng = {
      inherit (assistant.searxng) url;
      # `SEARX_SECRET_KEY=…` (root-only; see the README's "Deploy on NixOS").
      local.environmentFile = "/var/lib/secrets/variet/searx.env";
    };
  };

  networking.firewall.enable = true; # nothing is served to the LAN from Machine B
  # The name swapd.url (nix/data/machine-b-assistant.nix) reaches Machine A by.
  networking.hosts.${machineA.address} = [ machineA.name ];

  users.users.dev = {
    isNormalUser = true; # PLACEHOLDER: your user
    extraGroups = [ "wheel" ];
    # VSCodium (the free build of VS Code) with the extension built from ./vscode-extension.
    packages = [
      (pkgs.vscode-with-extensions.override {
        vscode = pkgs.vscodium;
        vscodeExtensions = [ pkgs.variet-vscode-extension ];
      })
      # The extension's checkpoints are a shadow repository written with the system's git.
      pkgs.git
    ];
  };
}
