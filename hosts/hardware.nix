# A host's hardware file, hosts/hardware/<host>.nix, or a stop that says what to put there. Used in each
# host's `imports`. (A flake sees only files git tracks: `git add` a newly generated one.)
host:
let
  file = ./hardware + "/${host}.nix";
in
if builtins.pathExists file then
  file
else
  throw "hosts/hardware/${host}.nix is missing: on ${host} run `nixos-generate-config --show-hardware-config`, save its output there with the boot loader lines of the committed placeholder (README, Deploy on NixOS, step 1), and `git add` it"
