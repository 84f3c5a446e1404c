# The `variet` Python distribution (swapd, swapctl, assistant) built from pyproject.toml with hatchling.
# Called from nix/overlay.nix with Variet's Python package set (nixos-25.11 plus nix/python-packages.nix).
{
  lib,
  python,
  buildPythonApplication,
  hatchling,
  fastapi,
  uvicorn,
  uvloop,
  httptools,
  httpx,
  sniffio,
  click,
  pydantic,
  nvidia-ml-py,
  discordpy,
  aiohttp,
  mcp,
  jsonschema,
  google-api-python-client,
  google-auth-oauthlib,
  prometheus-client,
}:
let
  project = (builtins.fromTOML (builtins.readFile ../pyproject.toml)).project;
  dependencies = [
    fastapi
    uvicorn
    # uvicorn's C event loop and HTTP parser, for the proxy's latency.
    uvloop
    httptools
    httpx
    sniffio
    click
    pydantic
    # NixOS patches it to find libnvidia-ml.so.1 under /run/opengl-driver.
    nvidia-ml-py
    # Text only: no voice, so no libopus or ffmpeg in the closure.
    (discordpy.override { withVoice = false; })
    # The bot catches aiohttp's errors itself.
    aiohttp
    mcp
    jsonschema
    google-api-python-client
    google-auth-oauthlib
    prometheus-client
  ];
in
buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../src
    ];
  };

  build-system = [ hatchling ];
  inherit dependencies;
  # pyproject.toml's lower bounds follow PyPI; nixos-25.11 may be a minor release behind.
  pythonRelaxDeps = [ "discord.py" ];

  # The test suite needs the llama-server build and the tiny model; it runs as checks.pytest instead.
  doCheck = false;
  pythonImportsCheck = [
    "swapd"
    "assistant"
  ];

  # The Python set it was built with (nixos-25.11 plus nix/python-packages.nix), for tools beside it.
  passthru = {
    inherit python;
    pythonDependencies = dependencies;
  };

  meta = {
    inherit (project) description;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "swapd";
  };
}
