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
      companions
      ;
    llamaCppPackage = stubs.llama-server;
    settings.gpu.fake_file = stubs.gpus;
    # The module refuses store paths for secrets; these test-only files reach /etc through the store,
    # which is fine in a VM and nowhere else.
    apiKeyFile = "/etc/swapd-vm/api-key";
    adminTokenFile = "/etc/swapd-vm/admin-token";
    openFirewall = true;
    lanInterface = lan;
  };
  environment.etc = {
    "swapd-vm/stub.gguf".source = stubs.model;
    "swapd-vm/api-key" = {
      text = "vm-test-api-key";
      mode = "0400";
    };
    "swapd-vm/admin-token" = {
      text = "vm-test-admin-token";
      mode = "0400";
    };
  };
  environment.systemPackages = [ pkgs.curl ];

  # swapctl over the control socket, as a member of group swapd and nothing else.
  users.users.operator = {
    isNormalUser = true;
    extraGroups = [ "swapd" ];
  };
}
