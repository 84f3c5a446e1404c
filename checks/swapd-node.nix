# A VM node running swapd as Machine A does, with the stub llama-server and the fake GPU backend.
# `lan` is the interface the port is opened on; the node's other interfaces stay closed.
{ stubs, lan }:
{ pkgs, ... }:
let
  data = import ./data/swapd.nix;
in
{
  services.variet.swapd = {
    enable = true;
    inherit (data)
      listenAddress
      port
      defaultTier
      policy
      gpu
      tiers
      ;
    llamaCppPackage = stubs.llama-server;
    settings.gpu.fake_file = stubs.gpus;
    # Test-only secrets: in the store, which is fine in a VM and nowhere else.
    apiKeyFile = pkgs.writeText "swapd-api-key" "vm-test-api-key";
    adminTokenFile = pkgs.writeText "swapd-admin-token" "vm-test-admin-token";
    openFirewall = true;
    lanInterface = lan;
  };
  environment.etc."swapd-vm/stub.gguf".source = stubs.model;
  environment.systemPackages = [ pkgs.curl ];

  # swapctl over the control socket, as a member of group swapd and nothing else.
  users.users.operator = {
    isNormalUser = true;
    extraGroups = [ "swapd" ];
  };
}
