# Machine A, the brain: two RTX 3060 12 GB, swapd and llama-server, reachable from the LAN only.
{ config, lib, ... }:
let
  swapd = import ../nix/data/machine-a-swapd.nix;
  lan = (import ../nix/data/lan.nix).machineA.interface;
in
{
  # File systems, kernel modules and the boot loader: a placeholder until you replace it (README step 1).
  imports = [ (import ./hardware.nix "machine-a") ];

  networking.hostName = "machine-a";
  system.stateVersion = "25.11";

  # CUDA for sm_86 only; unfree allowed for CUDA and the NVIDIA driver, nothing else.
  nixpkgs.config = import ../nix/machine-a-nixpkgs-config.nix { inherit lib; };
  # Hydra does not build unfree CUDA; this community cache has the CUDA libraries (llama.cpp itself is
  # still compiled here, for sm_86).
  nix.settings = {
    substituters = [ "https://nix-community.cachix.org" ];
    trusted-public-keys = [ "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs=" ];
  };

  # The NVIDIA driver, headless: loaded through the X driver list even without a desktop.
  services.xserver.videoDrivers = [ "nvidia" ];
  hardware.graphics.enable = true; # /run/opengl-driver/lib: libcuda and libnvidia-ml for NVML
  hardware.nvidia = {
    open = true; # Ampere supports the open kernel module
    nvidiaPersistenced = true; # keep both GPUs initialised between tiers
    modesetting.enable = true;
  };

  services.variet.swapd = {
    enable = true;
    inherit (swapd)
      listenAddress
      port
      defaultTier
      policy
      gpu
      tiers
      companions
      ;
    # Root-only files (README, "Deploy on NixOS"; with sops-nix or agenix, their paths instead).
    apiKeyFile = "/var/lib/secrets/variet/swapd-api-key";
    adminTokenFile = "/var/lib/secrets/variet/swapd-admin-token";
    # The port is opened on this interface only; every other interface stays closed.
    openFirewall = true;
    lanInterface = lan;
  };

  networking.firewall.enable = true;
  services.openssh = {
    enable = true;
    openFirewall = false; # SSH from the LAN interface only, below
    settings.PasswordAuthentication = false;
  };
  networking.firewall.interfaces.${lan}.allowedTCPPorts = [ 22 ];

  # Operators in group swapd may use `swapctl` over the control socket.
  users.users.dev = {
    isNormalUser = true; # PLACEHOLDER: your user
    extraGroups = [
      "wheel"
      "swapd"
    ];
    # FILL IN: your SSH public key; password logins over SSH are off.
    openssh.authorizedKeys.keys = [ ];
  };
  warnings = lib.optional (config.users.users.dev.openssh.authorizedKeys.keys == [ ]) (
    "hosts/machine-a.nix: users.users.dev has no SSH key and SSH refuses passwords; "
    + "add yours to users.users.dev.openssh.authorizedKeys.keys"
  );
}
