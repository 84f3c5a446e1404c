# GPU-free stand-ins for the VM tests, packaged from the repository's own fakes (tests/fakes/), which
# speak the real wire formats and are exercised by the Python test suite too.
{
  lib,
  python3,
  runCommand,
  writeShellApplication,
}:
{
  # `llama-server` for swapd's `llamaCppPackage`: takes llama-server's command line, answers /health
  # (503 while "loading", then 200), /v1/models and /v1/chat/completions ("tok0 tok1 …"), and never
  # opens the model. Standard library only.
  llama-server = writeShellApplication {
    name = "llama-server";
    text = ''
      exec ${lib.getExe python3} ${../tests/fakes/fake_llama_server.py} "$@"
    '';
  };

  # Two RTX 3060 12 GB as swapd's `fake` GPU backend reads them.
  gpus = ../tests/fakes/gpu-2x3060.json;

  # An empty file where a tier's GGUF would be.
  model = runCommand "stub.gguf" { } "touch $out";
}
