# GPU-free stand-ins for the VM tests, packaged from the repository's own fakes (tests/fakes/), which
# speak the real wire formats and are exercised by the Python test suite too.
{
  lib,
  python3,
  runCommand,
  writeShellApplication,
}:
let
  python = python3.withPackages (ps: [
    ps.starlette
    ps.uvicorn
  ]);
  fakes = lib.fileset.toSource {
    root = ../tests;
    fileset = lib.fileset.unions [
      ../tests/fakes
      ../tests/localhost.py
    ];
  };
in
{
  # `llama-server` for swapd's `llamaCppPackage`: takes llama-server's flags, answers /health (503 while
  # "loading", then 200), /v1/models and streamed /v1/chat/completions, and never opens the model.
  llama-server = writeShellApplication {
    name = "llama-server";
    text = ''
      export PYTHONPATH=${fakes}
      exec ${lib.getExe python} ${fakes}/fakes/llama_server.py "$@"
    '';
  };

  # Two RTX 3060 12 GB as swapd's `fake` GPU backend reads them.
  gpus = "${fakes}/fakes/gpu-2x3060.json";

  # An empty file where a tier's GGUF would be.
  model = runCommand "stub.gguf" { } "touch $out";
}
