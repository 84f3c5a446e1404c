# Variet's packages on top of nixpkgs: `variet` (swapd, swapctl, assistant) with its own Python set, the
# VS Code extension, and llama.cpp's CUDA build. Used by the flake and by the hosts.
final: prev:
let
  python = prev.python3.override {
    self = python;
    packageOverrides = import ./python-packages.nix;
  };
in
{
  variet = python.pkgs.callPackage ./variet.nix { };

  variet-vscode-extension = final.callPackage ./vscode-extension.nix { };

  # CUDA architectures come from `config.cudaCapabilities` (machine A: [ "8.6" ], the RTX 3060).
  llama-cpp-cuda = final.llama-cpp.override { cudaSupport = true; };
}
