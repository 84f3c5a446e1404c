{
  description = "Variet: a self-hosted AI assistant on two LAN machines (swapd on A, the assistant on B)";

  # Pinned in flake.lock to a published nixos-25.11 revision (see docs/architecture.md).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
    in
    {
      nixosModules = {
        swapd = ./modules/swapd.nix;
        assistant = ./modules/assistant.nix;
        default = { imports = [ ./modules/swapd.nix ./modules/assistant.nix ]; };
      };

      nixosConfigurations = {
        machine-a = nixpkgs.lib.nixosSystem {
          inherit system;
          modules = [ self.nixosModules.default ./hosts/machine-a.nix ];
        };
        machine-b = nixpkgs.lib.nixosSystem {
          inherit system;
          modules = [ self.nixosModules.default ./hosts/machine-b.nix ];
        };
      };
    };
}
