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
  # Both cards carry every tier, layers split 12:11 so that GPU 1 keeps room for the companion (below),
  # flash attention on. `--jinja` (the model's own chat template, needed for native tool calls) is the
  # default in newer llama.cpp; said explicitly all the same.
  twoGpus = [ "--n-gpu-layers" "999" "--split-mode" "layer" "--tensor-split" "12,11" "--flash-attn" "on" "--jinja" ];
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

  # Code completion beside every tier: the extension's `variet.completion.model` names it (`fim`).
  companions.fim = {
    # Qwen2.5-Coder-0.5B, Q8_0 (llama.vscode's smallest FIM preset): 531 MB of weights, FIM tokens.
    model = {
      url = hf "ggml-org/Qwen2.5-Coder-0.5B-Q8_0-GGUF" "qwen2.5-coder-0.5b-q8_0.gguf";
      sha256 = placeholder;
    };
    contextSize = 8192;
    parallel = 1;
    gpus = [ 1 ];
    extraArgs = [ "--n-gpu-layers" "999" "--flash-attn" "on" "--cache-reuse" "256" ];
    # Estimated, to be replaced by what `swapctl status` shows once it runs: weights ~507 MiB, KV cache
    # 24 layers x 2 (K, V) x 2 KV heads x 64 x 2 bytes = 12 KiB per token x 8192 = 96 MiB, compute buffers
    # ~300 MiB, CUDA context ~250 MiB: ~1150 MiB, rounded up.
    # It fits beside each tier: 2 x 12288 MiB = 24576 MiB, less swapd's 512 MiB margin, holds the
    # largest tier (balanced, 22528) + 1280 = 23808. Per card, with the 12:11 split: GPU 0 carries
    # 12/23 of a tier (balanced: 11754 MiB), GPU 1 11/23 plus the companion (10774 + 1280 = 12054).
    vramMiB = 1280;
    aliases = [ "qwen2.5-coder-0.5b" ];
  };
}
