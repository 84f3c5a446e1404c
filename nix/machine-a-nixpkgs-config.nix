# nixpkgs config for Machine A: CUDA for the two RTX 3060s (Ampere, sm_86) and unfree software allowed
# only where CUDA needs it (NVIDIA's CUDA libraries and the driver). Used by hosts/machine-a.nix and by
# the flake's `llama-cpp-cuda` package, so both build the same llama.cpp.
{ lib }:
{
  cudaSupport = true;
  # Only sm_86: the default list builds every architecture and takes hours longer.
  cudaCapabilities = [ "8.6" ];
  allowUnfreePredicate =
    pkg:
    builtins.elem (lib.getName pkg) [
      "nvidia-x11"
      "nvidia-settings"
      "nvidia-persistenced"
    ]
    || builtins.all (
      license:
      license.free
      || builtins.elem license.shortName [
        "CUDA EULA"
        "cuDNN EULA"
        "cuSPARSELt EULA"
        "cuTENSOR EULA"
        "NVidia OptiX EULA"
      ]
    ) (lib.toList (pkg.meta.license or [ ]));
}
