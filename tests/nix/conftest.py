"""The flake evaluated once per run under nixpkgs' real lib (tests/nix/eval.nix): both hosts and every VM
test's nodes, summarised as JSON."""

from typing import Any

import pytest
from nixeval import LIB, NIX, evaluate, flake


@pytest.fixture(scope="session")
def evaluated() -> dict[str, Any]:
    if NIX is None or not (LIB / "default.nix").is_file():
        pytest.skip(f"needs nix-instantiate and nixpkgs' lib at {LIB} (set VARIET_NIXPKGS_LIB)")
    data = evaluate(f"let e = {flake()}; in {{ inherit (e) hosts vmTests; }}")
    assert isinstance(data, dict)
    return data
