# This repository's flake, evaluated with nixpkgs' real `lib` (lib.evalModules, its option types and
# priorities) where Debian's Nix 2.8 cannot load nixpkgs itself: stand-ins for the package set
# (tests/nix/nixpkgs.nix), for NixOS's own modules (tests/nix/nixos/) and for the VM test driver.
# `nixosConfigurations.<host>.config.system.build.toplevel` fails as on NixOS when an assertion does;
# `checks.<vm test>.nodes.<node>` are the evaluated nodes and `.testScript` the script the driver runs.
{
  # nixpkgs' lib/, e.g. `import ../shared/nixpkgs-lib/lib` from the repository root.
  lib,
  # The repository; a test may point this at a copy it changed.
  root ? ../..,
}@args:
let
  # lib.fileset reads file types with builtins.readFileType (Nix 2.14); on older Nix, the way lib did it
  # before that builtin existed.
  lib =
    if builtins ? readFileType then
      args.lib
    else
      args.lib.extend (
        _: prev: {
          filesystem = prev.filesystem // {
            pathType =
              path:
              if dirOf path == path then
                "directory"
              else
                (builtins.readDir (dirOf path)).${baseNameOf path}
                  or (throw "lib.filesystem.pathType: ${toString path} does not exist");
          };
        }
      );

  nixos =
    {
      modules,
      pkgs ? null,
    }:
    lib.evalModules {
      specialArgs.modulesPath = ./nixos/modules-path;
      modules = [
        ./nixos
        (
          { config, ... }:
          {
            # As nixos/modules/misc/nixpkgs.nix builds it from `nixpkgs.*`, unless the test driver
            # hands over its own (read-only) package set.
            _module.args.pkgs =
              if pkgs != null then
                pkgs
              else
                nixpkgs {
                  inherit (config.nixpkgs) overlays config;
                };
          }
        )
      ]
      ++ modules;
    };

  nixpkgs = args: import ./nixpkgs.nix ({ inherit lib runNixOSTest; } // args);

  # pkgs.testers.runNixOSTest: each node evaluated with the test's `defaults` and the driver's own
  # settings, on the package set the test came from; nodes are numbered in name order.
  runNixOSTest =
    pkgs: test:
    let
      names = lib.attrNames test.nodes;
      number = name: 1 + lib.lists.findFirstIndex (n: n == name) null names;
      evaluated = lib.genAttrs names (
        name:
        nixos {
          inherit pkgs;
          modules = [
            (import ./nixos/test-node.nix {
              inherit name;
              number = number name;
              addresses = lib.genAttrs names (
                node: "192.168.${toString (lib.head nodes.${node}.virtualisation.vlans)}.${toString (number node)}"
              );
            })
          ]
          ++ lib.toList (test.defaults or [ ])
          ++ [ test.nodes.${name} ];
        }
      );
      nodes = lib.mapAttrs (_: node: node.config) evaluated;
    in
    {
      inherit (test) name;
      inherit nodes;
      testScript = if lib.isFunction test.testScript then test.testScript { inherit nodes; } else test.testScript;
    };

  # The flake's `nixpkgs` input: `import nixpkgs { … }` (see `flake` below) and `nixpkgs.lib`.
  input = {
    variet-stand-in = true;
    lib = lib // {
      nixosSystem = { modules, ... }: nixos { inherit modules; };
    };
  };
  flake = builtins.scopedImport {
    import = file: if builtins.isAttrs file && file ? variet-stand-in then nixpkgs else import file;
  } (root + "/flake.nix");
  outputs = flake.outputs {
    self = outputs // {
      outPath = root;
    };
    nixpkgs = input;
  };

  # What tests read of an evaluated NixOS configuration, as JSON: forcing it evaluates every unit, file
  # and account, and `toplevel` fails with NixOS's message when an assertion does.
  summary = config: {
    toplevel = "${config.system.build.toplevel}";
    inherit (config) warnings;
    hostName = config.networking.hostName;
    hosts = config.networking.hosts;
    firewall = {
      inherit (config.networking.firewall) enable allowedTCPPorts interfaces;
    };
    services = lib.mapAttrs (_: unit: {
      inherit (unit)
        enable
        description
        wantedBy
        after
        wants
        requires
        environment
        serviceConfig
        ;
      restartTriggers = map toString unit.restartTriggers;
    }) config.systemd.services;
    etc = lib.mapAttrs (_: file: {
      source = toString file.source;
      inherit (file) mode;
    }) config.environment.etc;
    users = lib.mapAttrs (_: user: {
      inherit (user)
        isNormalUser
        isSystemUser
        group
        extraGroups
        ;
    }) config.users.users;
    groups = lib.attrNames config.users.groups;
    systemPackages = map toString config.environment.systemPackages;
  };
in
outputs
// {
  inherit summary;
  inherit (input.lib) nixosSystem;
  hosts = lib.mapAttrs (_: host: summary host.config) outputs.nixosConfigurations;
  vmTests = lib.mapAttrs (
    _: test:
    {
      inherit (test) testScript;
      nodes = lib.mapAttrs (_: summary) test.nodes;
    }
  ) (lib.filterAttrs (_: check: check ? nodes) outputs.checks.x86_64-linux);
}
