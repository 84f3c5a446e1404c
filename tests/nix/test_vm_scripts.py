"""The VM tests' Python scripts compile and name only what the NixOS test driver defines.

The driver type-checks a script before it boots anything, but only where the VM tests run (Nix >= 2.18
with KVM); here the scripts are taken out of checks/*.nix by tests/nix/vm-scripts.nix and checked with
the standard library.
"""

import ast
import builtins
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NIX = shutil.which("nix-instantiate")
pytestmark = pytest.mark.skipif(NIX is None, reason="no nix-instantiate (Debian: apt-get install nix-bin)")

# What nixos/lib/test-driver puts in a script's globals besides one variable per node.
DRIVER = {"start_all", "subtest", "machines", "driver", "polling_condition", "serial_stdout_on", "t"}


def scripts() -> dict[str, dict[str, object]]:
    assert NIX is not None
    done = subprocess.run(
        [NIX, "--eval", "--strict", "--json", "tests/nix/vm-scripts.nix"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def undefined(tree: ast.Module, known: set[str]) -> set[str]:
    """Names read but never bound in the script (it is flat: no scoping subtleties to model)."""
    bound = set(known) | set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
            bound.update(a.arg for a in node.args.args)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


@pytest.mark.parametrize("check", ["machine-a", "machine-b", "two-machines"])
def test_vm_script_compiles_and_names_only_its_nodes(check: str) -> None:
    test = scripts()[check]
    script, nodes = test["script"], test["nodes"]
    assert isinstance(script, str) and isinstance(nodes, list)

    tree = ast.parse(script, filename=f"checks/{check}.nix")
    compile(tree, f"checks/{check}.nix", "exec")

    assert undefined(tree, DRIVER | set(nodes)) == set()
    assert "start_all()" in script
