# swapd in the VM tests, as pure data: three tiers and a companion on the stub llama-server (tests/fakes),
# so swaps are real process swaps with no GPU and no model. tests/nix validates it with swapd's schema as well.
let
  stub = "/etc/swapd-vm/stub.gguf"; # the stub llama-server never opens it; swapd only checks it is there
in
{
  listenAddress = "0.0.0.0";
  port = 8080;
  defaultTier = "fast";
  policy = "on_demand";
  gpu = "fake";
  tiers = {
    fast = {
      model = stub;
      contextSize = 4096;
      vramMiB = 8192;
      aliases = [ "small" ];
    };
    balanced = {
      model = stub;
      contextSize = 8192;
      parallel = 2;
      vramMiB = 12288;
      aliases = [ "medium" ];
    };
    deep = {
      model = stub;
      contextSize = 2048;
      vramMiB = 16384;
      extraArgs = [
        "--n-cpu-moe"
        "40"
      ];
    };
  };
  # Runs beside every tier on its own stub llama-server.
  companions.fim = {
    model = stub;
    contextSize = 2048;
    vramMiB = 1024;
    gpus = [ 1 ];
    aliases = [ "completion" ];
  };
}
