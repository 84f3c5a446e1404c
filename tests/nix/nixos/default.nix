# Stand-ins for the NixOS modules that declare the options Variet's modules, hosts and VM tests set:
# each file declares them with the types NixOS gives them, and keeps the NixOS assertions they are
# subject to with NixOS's own texts. Evaluated by nixpkgs' real lib.evalModules (tests/nix/eval.nix), so a
# wrong type, an undeclared option or a failed assertion fails here as it would on a NixOS machine.
# Only what is set is declared: an option none of our files touches is left out.
{
  imports = [
    ./misc.nix
    ./filesystems.nix
    ./boot-loader.nix
    ./users-groups.nix
    ./systemd.nix
    ./networking.nix
    ./environment.nix
    ./hardware.nix
    ./services.nix
  ];
}
