# `nix flake check`: NixOS VM tests (pkgs.testers.runNixOSTest; the builder needs KVM) with the GPU
# stubbed, plus the pytest suite. Every package here is GPU-free and free software.
{ pkgs, self }:
let
  stubs = pkgs.callPackage ./stubs.nix { };
  args = { inherit pkgs self stubs; };
in
{
  machine-a = import ./machine-a.nix args;
  machine-b = import ./machine-b.nix args;
  two-machines = import ./two-machines.nix args;
  pytest = pkgs.callPackage ./pytest.nix { };
}
