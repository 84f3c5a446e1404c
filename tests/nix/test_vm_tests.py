"""Every VM test of checks/ evaluated as the NixOS test driver would, under nixpkgs' real module system: its
nodes pass NixOS's assertions, swapd's rendered config passes swapd's schema, and its Python script
compiles and names only what the driver defines. (The tests themselves need KVM and Nix >= 2.18.)"""

import ast
import builtins
import json
from typing import Any

import pytest
from nixeval import evaluate, flake, needs_lib

from swapd import config as swapd_config

pytestmark = needs_lib

CHECKS = ["machine-a", "machine-b", "two-machines"]
# What nixos/lib/test-driver puts in a script's globals besides one variable per node.
DRIVER = {
    "start_all",
    "test_script",
    "machines",
    "vlans",
    "driver",
    "log",
    "os",
    "create_machine",
    "subtest",
    "run_tests",
    "join_all",
    "retry",
    "serial_stdout_off",
    "serial_stdout_on",
    "polling_condition",
    "Machine",
    "t",
}


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


def test_every_check_with_nodes_is_covered(evaluated: dict[str, Any]) -> None:
    assert sorted(evaluated["vmTests"]) == CHECKS


@pytest.mark.parametrize("check", CHECKS)
def test_nodes_build(evaluated: dict[str, Any], check: str) -> None:
    nodes = evaluated["vmTests"][check]["nodes"]

    for name, node in nodes.items():
        assert node["toplevel"].endswith(f"-nixos-system-{name}")
        assert node["warnings"] == []


@pytest.mark.parametrize("check", CHECKS)
def test_script_compiles_and_names_only_its_nodes(evaluated: dict[str, Any], check: str) -> None:
    test = evaluated["vmTests"][check]
    script = test["testScript"]

    tree = ast.parse(script, filename=f"checks/{check}.nix")
    compile(tree, f"checks/{check}.nix", "exec")

    assert undefined(tree, DRIVER | set(test["nodes"])) == set()
    assert "start_all()" in script


@pytest.mark.parametrize(("check", "node"), [("machine-a", "machine"), ("two-machines", "swapd")])
def test_swapd_nodes_render_a_config_swapd_accepts(check: str, node: str) -> None:
    text = evaluate(
        flake(
            f'.checks.x86_64-linux.{check}.nodes.{node}.environment.etc."variet/swapd.toml".source.unchecked.value'
        )
    )
    settings = swapd_config.parse(json.loads(text))

    assert settings.gpu.backend == "fake"
    assert settings.gpu.fake_file is not None and settings.gpu.fake_file.name.endswith("-gpu-2x3060.json")
    assert settings.tier("fast").model == "/etc/swapd-vm/stub.gguf"
    assert settings.api_key_files == ("api-key",)
    companion = settings.companion_for("completion")
    assert companion is not None and (companion.name, companion.gpus) == ("fim", (1,))


def test_the_lan_node_reaches_swapd_where_the_firewall_opens_it(evaluated: dict[str, Any]) -> None:
    nodes = evaluated["vmTests"]["machine-a"]["nodes"]
    script = evaluated["vmTests"]["machine-a"]["testScript"]
    machine = nodes["machine"]

    assert machine["firewall"]["interfaces"] == {"eth1": {"allowedTCPPorts": [8080], "allowedUDPPorts": []}}
    lan_address = next(address for address, names in machine["hosts"].items() if names == ["machine"])
    assert f"http://{lan_address}:8080/health" in script


def test_the_assistant_node_names_swapd_by_a_host_the_driver_declares(evaluated: dict[str, Any]) -> None:
    assistant = evaluated["vmTests"]["two-machines"]["nodes"]["assistant"]

    assert ["swapd"] in assistant["hosts"].values()
