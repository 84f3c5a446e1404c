"""The flake's package expressions, evaluated with stand-ins for nixpkgs: the extension's build takes the
.vsix itself and locks npm dependencies by package-lock.json alone, and Variet's Python set meets every
floor its PyPI wheels declare, so their runtime-dependency check can stay on."""

import pytest
from nixeval import LIB, evaluate, flake, needs_lib, path, refusal

pytestmark = needs_lib


def test_the_extension_unpacks_its_vsix_and_locks_npm_by_package_lock() -> None:
    """issue 12: newer buildVscodeExtension unpacks only *.vsix; npmDepsHash was a placeholder."""
    extension = evaluate(
        f"let x = {flake('.packages.x86_64-linux.vscode-extension')}; in {{ "
        "src = x.src; npmRoot = toString x.vsix.npmDeps.npmRoot; hook = x.vsix.npmConfigHook.name; "
        "hash = x.vsix ? npmDepsHash; uniqueId = x.vscodeExtUniqueId; }"
    )

    assert extension["src"].endswith("-variet-vsix-0.1.0/variet.vsix")
    assert extension["npmRoot"].endswith("/vscode-extension")
    assert extension["hook"] == "npm-config-hook"
    assert extension["hash"] is False
    assert extension["uniqueId"] == "variet.variet"


def python_set(nixpkgs_version: str, python: str = "3.13") -> str:
    """nix/python-packages.nix over a Python set whose every package is at `nixpkgs_version`."""
    return f"""
      let
        lib = import {path(LIB)};
        old = name: {{ pname = name; version = "{nixpkgs_version}"; optional-dependencies.crypto = [ ]; }};
        prev = lib.genAttrs [
          "annotated-types" "anyio" "h11" "idna" "jsonschema" "opentelemetry-api" "pydantic"
          "pydantic-core" "pyjwt" "python-multipart" "sse-starlette" "starlette" "truststore"
          "typing-extensions" "typing-inspection" "uvicorn"
        ] old // {{
          buildPythonPackage = args: args;
          python.pythonVersion = "{python}";
          pkgs = {{
            fetchurl = args: args;
            autoPatchelfHook = "autoPatchelfHook";
            stdenv.cc.cc.lib = "gcc-lib";
          }};
        }};
        overrides = import ./nix/python-packages.nix final prev;
        final = prev // overrides;
      in
      {{
        versions = lib.mapAttrs (_: package: package.version) overrides;
        unchecked = lib.attrNames (lib.filterAttrs (_: package: package ? dontCheckRuntimeDeps) overrides);
      }}
    """


def test_every_wheel_keeps_its_runtime_dependency_check() -> None:
    """issue 12: dontCheckRuntimeDeps hid a dependency below a wheel's floor until run time."""
    assert evaluate(python_set("0"))["unchecked"] == []


# The floors mcp 2.3.0 and httpx2 2.16.2 declare (their wheels' METADATA) that nixos-25.11 does not meet,
# and what pydantic's own floor pulls in.
FLOORS = {"pydantic": "2.12.0", "idna": "3.18", "anyio": "4.10", "typing-inspection": "0.4.2"}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.mark.parametrize("nixpkgs_version", ["0.1", "2.11.7"])
def test_an_older_nixpkgs_gets_each_floor_met_here(nixpkgs_version: str) -> None:
    versions = evaluate(python_set(nixpkgs_version))["versions"]

    for name, floor in FLOORS.items():
        assert version_tuple(versions[name]) >= version_tuple(floor), name
    assert versions["pydantic-core"] == "2.41.5"  # pydantic 2.12.5 pins it exactly


def test_a_newer_nixpkgs_keeps_its_own_packages() -> None:
    versions = evaluate(python_set("9.0"))["versions"]

    for name in [*FLOORS, "pydantic-core"]:
        assert versions[name] == "9.0", name


def test_a_python_the_core_wheel_does_not_fit_is_named() -> None:
    error = refusal(f"({python_set('0', python='3.14')}).versions.pydantic-core")

    assert "the pydantic-core wheel is for CPython 3.13 but this Python is 3.14" in error
