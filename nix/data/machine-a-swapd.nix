# Machine A's swapd: the three real tiers on 2x RTX 3060 12 GB, as pure data (no nixpkgs, no lib).
# hosts/machine-a.nix feeds this to services.variet.swapd; tests/nix evaluates it with
# `nix-instantiate --eval --strict --json` and validates the rendered swapd.toml with swapd's own schema.
#
# FILL IN before the first `nixos-rebuild`: every `sha256` below is a placeholder (lib.fakeHash), so the
# build stops and prints the real hash. Better: take the sha256 that Hugging Face shows for each LFS file
# and convert it with `nix hash convert --hash-algo sha256 --to sri <hex>`, and replace `resolve/main` by
# `resolve/<commit>` so the URL names the exact revision you checked.
let
  placeholder = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; # FILL IN: the file's real hash
  hf = repo: file: "https://huggingface.co/${repo}/resolve/main/${file}";
  # Both cards carry every tier: layers split evenly, flash attention on. `--jinja` (the model's own
  # chat template, needed for native tool calls) is the default in newer llama.cpp; said explicitly
  # for the nixos-25.11 build.
  twoGpus = [ "--n-gpu-layers" "999" "--split-mode" "layer" "--tensor-split" "1,1" "--flash-attn" "on" "--jinja" ];
in
{
  listenAddress = "0.0.0.0";
  port = 8080;
  defaultTier = "balanced";
  policy = "on_demand";
  gpu = "nvml";

  tiers = {
    fast = {
      # Gemma 4 26B-A4B (MoE, 4B active), Q4_K_M: about 16 GB of weights, ~70 tok/s on 2x3060.
      model = {
        url = hf "ggml-org/gemma-4-26B-A4B-it-GGUF" "gemma-4-26B-A4B-it-Q4_K_M.gguf";
        sha256 = placeholder;
      };
      contextSize = 32768;
      parallel = 2;
      extraArgs = twoGpus ++ [ "--cache-type-k" "q8_0" "--cache-type-v" "q8_0" ];
      vramMiB = 20480;
      aliases = [ "gemma" "gemma-4-26b" ];
    };

    balanced = {
      # Qwen3.5-35B-A3B (MoE, 3B active), Q4_K_M: about 21 GB, ~50 tok/s.
      model = {
        url = hf "Qwen/Qwen3.5-35B-A3B-GGUF" "Qwen3.5-35B-A3B-Q4_K_M.gguf";
        sha256 = placeholder;
      };
      contextSize = 32768;
      parallel = 2;
      extraArgs = twoGpus ++ [ "--cache-type-k" "q8_0" "--cache-type-v" "q8_0" ];
      vramMiB = 22528;
      aliases = [ "qwen-35b" ];
    };

    deep = {
      # Qwen3.5-122B-A10B, Q4_K_M in three parts (about 72 GB): attention and shared weights on the GPUs,
      # the experts of the first 40 layers in system RAM (`--n-cpu-moe`); ~11 tok/s. Needs >= 96 GB RAM.
      # llama-server opens the first part and finds the others beside it, so all parts share one directory.
      model = {
        url = hf "Qwen/Qwen3.5-122B-A10B-GGUF" "Q4_K_M/Qwen3.5-122B-A10B-Q4_K_M-00001-of-00003.gguf";
        sha256 = placeholder;
        extraParts = [
          {
            url = hf "Qwen/Qwen3.5-122B-A10B-GGUF" "Q4_K_M/Qwen3.5-122B-A10B-Q4_K_M-00002-of-00003.gguf";
            sha256 = placeholder;
          }
          {
            url = hf "Qwen/Qwen3.5-122B-A10B-GGUF" "Q4_K_M/Qwen3.5-122B-A10B-Q4_K_M-00003-of-00003.gguf";
            sha256 = placeholder;
          }
        ];
      };
      contextSize = 16384;
      parallel = 1;
      extraArgs = twoGpus ++ [ "--n-cpu-moe" "40" "--threads" "16" ];
      # Loading 72 GB from disk takes a while.
      settings.load_timeout_s = 900;
      vramMiB = 21504;
      aliases = [ "qwen-122b" ];
    };
  };
}
