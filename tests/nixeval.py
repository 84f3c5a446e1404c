"""Nix evaluation for tests/nix: Debian's nix-instantiate with nixpkgs' real lib, and nothing from NIX_PATH.

nixpkgs' `lib/` sits at ../shared/nixpkgs-lib/lib from the repository root on development machines and in
CI; VARIET_NIXPKGS_LIB names another copy. Tests that need it skip, saying where they looked, when it is
absent (tests/nix/eval.nix then has no module system to run).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NIX = shutil.which("nix-instantiate")
LIB_VARIABLE = "VARIET_NIXPKGS_LIB"
LIB = Path(os.environ.get(LIB_VARIABLE) or ROOT.parent / "shared" / "nixpkgs-lib" / "lib")

needs_nix = pytest.mark.skipif(NIX is None, reason="no nix-instantiate (Debian: apt-get install nix-bin)")
needs_lib = pytest.mark.skipif(
    NIX is None or not (LIB / "default.nix").is_file(),
    reason=f"needs nix-instantiate and nixpkgs' lib at {LIB} (set {LIB_VARIABLE} to another copy)",
)


def _run(expr: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert NIX is not None
    env = {key: value for key, value in os.environ.items() if key != "NIX_PATH"}
    return subprocess.run(
        [NIX, "--eval", "--strict", "--json", "--expr", expr],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def evaluate(expr: str, cwd: Path = ROOT) -> Any:
    """The JSON value of a Nix expression whose relative paths start at `cwd`."""
    done = _run(expr, cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refusal(expr: str, cwd: Path = ROOT) -> str:
    """The error a Nix expression fails with (the test fails if it evaluates)."""
    done = _run(expr, cwd)
    assert done.returncode != 0, f"evaluated, but should have been refused: {done.stdout[:500]}"
    return done.stderr


def path(value: Path) -> str:
    """A Nix path expression for an absolute path of any spelling."""
    return f"(/. + {json.dumps(str(value))})"


def flake(select: str = "", root: Path = ROOT) -> str:
    """An expression for the flake evaluated by tests/nix/eval.nix under the real lib, then `select`."""
    return (
        f"(import {path(ROOT / 'tests' / 'nix' / 'eval.nix')} "
        f"{{ lib = import {path(LIB)}; root = {path(root)}; }}){select}"
    )


def system(modules: str, select: str = "", root: Path = ROOT) -> str:
    """An expression for a NixOS system of this flake's modules plus `modules` (Nix list items), then
    `select` on its `config`; `summary` selects tests/nix/eval.nix's JSON summary of it."""
    evaluated = f"(e.nixosSystem {{ modules = [ e.nixosModules.default {modules} ]; }}).config"
    body = f"e.summary {evaluated}" if select == "summary" else f"{evaluated}{select}"
    return f"let e = {flake(root=root)}; in {body}"
