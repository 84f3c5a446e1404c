# Python packages Variet needs at versions newer than nixos-25.11 has, applied only to Variet's own Python
# (nix/overlay.nix). Each is a wheel from PyPI; each URL and SRI hash was taken from the file pip
# downloaded (the URL path is the file's BLAKE2b-256, checked).
#
# The runtime-dependency check stays on for every wheel: a dependency below the floor a wheel declares
# fails the build and names itself. So where a wheel's floor is above nixos-25.11's version, the floor is
# met here too, by the lowest release that meets it, and only when nixpkgs' own version is lower
# (`atLeast`). Those replace nixpkgs' package in Variet's Python set, whose dependants are rebuilt.
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
      extra ? { },
    }:
    pyFinal.buildPythonPackage (
      {
        inherit pname version dependencies;
        format = "wheel";
        src = pyFinal.pkgs.fetchurl { inherit url hash; };
        pythonImportsCheck = [ importName ];
      }
      // extra
    );
  pypi = path: "https://files.pythonhosted.org/packages/${path}";

  # nixpkgs' own `name` when it is at least `floor`, else the pinned `replacement`.
  atLeast =
    name: floor: replacement:
    if builtins.compareVersions pyPrev.${name}.version floor < 0 then replacement else pyPrev.${name};

  # pydantic >= 2.12 (mcp, mcp-types) comes with its compiled core, pinned exactly; the core is a CPython
  # 3.13 manylinux wheel (nixos-25.11's python3), its shared object patched to find libgcc_s.
  newPydantic = builtins.compareVersions pyPrev.pydantic.version "2.12.0" < 0;
  cpython313 =
    if pyFinal.python.pythonVersion == "3.13" then
      true
    else
      throw "nix/python-packages.nix: the pydantic-core wheel is for CPython 3.13 but this Python is ${pyFinal.python.pythonVersion}; pin the matching wheel from https://pypi.org/simple/pydantic-core/";
in
{
  # httpx2 needs idna >= 3.18 and anyio >= 4.10.
  idna = atLeast "idna" "3.18" (wheel {
    pname = "idna";
    version = "3.20";
    url = pypi "58/a2/bb081bab032533a855d44de1d56f8e8426114ff1ba5d1f07a438a0a654f8/idna-3.20-py3-none-any.whl";
    hash = "sha256-q3rnEil0VTNw8L25GeGpYLLNG8HvAnZBbYltuBwUWCw=";
    dependencies = [ ];
    importName = "idna";
  });

  anyio = atLeast "anyio" "4.10" (wheel {
    pname = "anyio";
    version = "4.13.0";
    url = pypi "da/42/e921fccf5015463e32a3cf6ee7f980a6ed0f395ceeaa45060b61d86486c2/anyio-4.13.0-py3-none-any.whl";
    hash = "sha256-CLMQ+eJKlZQYb9dbT3P0pBUgaeOFPx7Yv79YNp9K1wg=";
    dependencies = with pyFinal; [
      idna
      typing-extensions
    ];
    importName = "anyio";
  });

  # pydantic 2.12 needs typing-inspection >= 0.4.2.
  typing-inspection = atLeast "typing-inspection" "0.4.2" (wheel {
    pname = "typing-inspection";
    version = "0.4.2";
    url = pypi "dc/9b/47798a6c91d8bdb567fe2698fe81e0c6b7cb7ef4d13da4114b41d239f65d/typing_inspection-0.4.2-py3-none-any.whl";
    hash = "sha256-TtHKy9wpjCIPG9JJ7VKHyqFvNNRO9OnD0MutW1IVRec=";
    dependencies = [ pyFinal.typing-extensions ];
    importName = "typing_inspection";
  });

  pydantic-core =
    if newPydantic && cpython313 then
      wheel {
        pname = "pydantic-core";
        version = "2.41.5";
        url = pypi "cf/4e/35a80cae583a37cf15604b44240e45c05e04e86f9cfd766623149297e971/pydantic_core-2.41.5-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        hash = "sha256-QGvxjTRYItbCE2YDEANhK5x3s+Kf/bD2EjZzUqq31YY=";
        dependencies = [ pyFinal.typing-extensions ];
        importName = "pydantic_core";
        extra = {
          nativeBuildInputs = [ pyFinal.pkgs.autoPatchelfHook ];
          buildInputs = [ pyFinal.pkgs.stdenv.cc.cc.lib ];
        };
      }
    else
      pyPrev.pydantic-core;

  pydantic =
    if newPydantic then
      wheel {
        pname = "pydantic";
        version = "2.12.5";
        url = pypi "5a/87/b70ad306ebb6f9b585f114d0ac2137d792b48be34d732d60e597c2f8465a/pydantic-2.12.5-py3-none-any.whl";
        hash = "sha256-5WFZP8z2Hoog/Ebfwt/gdbi+fQGI3zPyIa0fATkYD50=";
        dependencies = with pyFinal; [
          annotated-types
          pydantic-core
          typing-extensions
          typing-inspection
        ];
        importName = "pydantic";
      }
    else
      pyPrev.pydantic;

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
