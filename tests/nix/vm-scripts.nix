# The Python test scripts of checks/{machine-a,machine-b,two-machines}.nix, with stand-ins for pkgs and
# the test framework's `nodes`, so tests/nix can check them (the NixOS test driver would reject a script
# that does not compile or names an undefined machine, but only on a machine that runs the VM tests).
let
  drv = name: { outPath = "/nix/store/00000000000000000000000000000000-${name}"; };
  pkgs = {
    testers.runNixOSTest = test: test;
    lib.getExe = package: "${package}/bin/main";
    writeShellApplication = args: drv args.name;
    writeText = name: _: drv name;
    curl = drv "curl";
    variet.python.withPackages = _: drv "python-env";
  };
  args = {
    inherit pkgs;
    self.nixosModules = {
      default = { };
      swapd = { };
      assistant = { };
    };
    stubs = {
      llama-server = drv "llama-server";
      model = drv "stub.gguf";
      gpus = drv "gpus.json";
    };
  };
  # What the test framework passes to a testScript function: each node's evaluated config.
  nodes.machine.networking.interfaces = {
    eth1.ipv4.addresses = [ { address = "192.168.1.3"; } ];
    eth2.ipv4.addresses = [ { address = "192.168.2.3"; } ];
  };
  script =
    file:
    let
      test = import file args;
    in
    {
      nodes = builtins.attrNames test.nodes;
      script = if builtins.isFunction test.testScript then test.testScript { inherit nodes; } else test.testScript;
    };
in
{
  machine-a = script ../../checks/machine-a.nix;
  machine-b = script ../../checks/machine-b.nix;
  two-machines = script ../../checks/two-machines.nix;
}
