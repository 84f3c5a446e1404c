# Python packages Variet needs at versions newer than nixos-25.11 has: the MCP SDK 2.x and what it
# pulls in. Wheels (pure Python, py3-none-any) pinned to the same versions as constraints.txt; each URL
# and SRI hash was taken from the file pip downloaded (the URL path is the file's BLAKE2b-256, checked).
# Applied only to Variet's own Python (nix/overlay.nix), so nothing else in nixpkgs is rebuilt.
pyFinal: pyPrev:
let
  wheel =
    {
      pname,
      version,
      url,
      hash,
      dependencies,
      importName,
    }:
    pyFinal.buildPythonPackage {
      inherit pname version dependencies;
      format = "wheel";
      src = pyFinal.pkgs.fetchurl { inherit url hash; };
      # Their lower bounds follow PyPI's newest releases; nixos-25.11's are older. The pytest check
      # runs Variet's suite against this set, which is the compatibility check that matters.
      dontCheckRuntimeDeps = true;
      pythonImportsCheck = [ importName ];
    };
  pypi = path: "https://files.pythonhosted.org/packages/${path}";
in
{
  httpcore2 = wheel {
    pname = "httpcore2";
    version = "2.16.2";
    url = pypi "2a/e8/009c347feac27f8960605aa98d55ed263b5870dd4fd80b82fd1d00d5716c/httpcore2-2.16.2-py3-none-any.whl";
    hash = "sha256-FgUa4qQvd2AHVD8y3pNJoxeyPSy7ThRWtLrA6IuHQZo=";
    dependencies = with pyFinal; [
      h11
      truststore
    ];
    importName = "httpcore2";
  };

  httpx2 = wheel {
    pname = "httpx2";
    version = "2.16.2";
    url = pypi "77/de/8c4306a3d6aa2495111986addf33a9e561eff4c47552e4c4b9251160d0ad/httpx2-2.16.2-py3-none-any.whl";
    hash = "sha256-8FwTqt5MRdvxyQYGR6EFjwrK1iOY+tludBJp7bM9RvU=";
    dependencies = with pyFinal; [
      anyio
      httpcore2
      idna
      truststore
      typing-extensions
    ];
    importName = "httpx2";
  };

  mcp-types = wheel {
    pname = "mcp-types";
    version = "2.3.0";
    url = pypi "ce/48/32583066b155bb5d4507e7887dc88ee23118cc4de8e2a12870c49719e2a8/mcp_types-2.3.0-py3-none-any.whl";
    hash = "sha256-lo79va7fqwatrkDTeKNDlfEJDFkh1L48nN4oOq922R0=";
    dependencies = with pyFinal; [
      pydantic
      typing-extensions
    ];
    importName = "mcp_types";
  };

  mcp = wheel {
    pname = "mcp";
    version = "2.3.0";
    url = pypi "20/d7/4a2878f128df729db3ca04e71bfce26405cc2e0c9ebe19c592feeb4c61b9/mcp-2.3.0-py3-none-any.whl";
    hash = "sha256-3QxEwInRZFPorjGjh3oAVNeiMUyqqB9eBUG5sXNLI3c=";
    dependencies =
      with pyFinal;
      [
        anyio
        httpx2
        jsonschema
        mcp-types
        opentelemetry-api
        pydantic
        pyjwt
        python-multipart
        sse-starlette
        starlette
        typing-extensions
        typing-inspection
        uvicorn
      ]
      ++ pyjwt.optional-dependencies.crypto;
    importName = "mcp";
  };
}
