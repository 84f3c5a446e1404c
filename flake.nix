{
  description = "Variet: a self-hosted AI assistant on two LAN machines (swapd on A, the assistant on B)";

  # Pinned in flake.lock to a published nixos-25.11 revision; `nix flake update` bumps it.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      inherit (nixpkgs) lib;
      overlay = import ./nix/overlay.nix;

      # GPU-free and free-only: the packages, the dev shell and the VM tests build nothing unfree.
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ overlay ];
      };
      # Machine A's CUDA set, for `llama-cpp-cuda` alone (Machine A's swapd runs it).
      pkgsCuda = import nixpkgs {
        inherit system;
        overlays = [ overlay ];
        config = import ./nix/machine-a-nixpkgs-config.nix { inherit lib; };
      };

      host =
        file:
        lib.nixosSystem {
          modules = [
            {
              nixpkgs.hostPlatform = system;
              nixpkgs.overlays = [ overlay ];
            }
            self.nixosModules.default
            file
          ];
        };
    in
    {
      overlays.default = overlay;

      packages.${system} = {
        default = pkgs.variet;
        variet = pkgs.variet;
        vscode-extension = pkgs.variet-vscode-extension;
        llama-cpp-cuda = pkgsCuda.llama-cpp-cuda;
      };

      # Each module defaults its packages to this flake's builds, so other flakes can import the modules
      # without the overlay (the hosts and VM tests use the same builds through it). swapd's llama.cpp is
      # `packages.llama-cpp-cuda`, the sdist the test suite runs, built for sm_86.
      nixosModules = {
        swapd = {
          imports = [ ./modules/swapd.nix ];
          services.variet.swapd = {
            package = lib.mkDefault pkgs.variet;
            llamaCppPackage = lib.mkDefault pkgsCuda.llama-cpp-cuda;
          };
        };
        assistant = {
          imports = [ ./modules/assistant.nix ];
          services.variet.assistant.package = lib.mkDefault pkgs.variet;
        };
        default.imports = [
          self.nixosModules.swapd
          self.nixosModules.assistant
        ];
      };

      nixosConfigurations = {
        machine-a = host ./hosts/machine-a.nix;
        machine-b = host ./hosts/machine-b.nix;
      };

      checks.${system} = import ./checks { inherit pkgs self; };

      devShells.${system}.default = pkgs.mkShell {
        # What `make setup` and `make test` need; they build the .venv and llama-server themselves.
        packages = with pkgs; [
          python3
          cmake
          gcc
          gnumake
          nodejs_20
          nix
        ];
      };

      apps.${system}.swapctl = {
        type = "app";
        program = lib.getExe' pkgs.variet "swapctl";
      };
    };
}
