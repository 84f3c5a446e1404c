"""Both hosts, as `nixos-rebuild switch --flake .#machine-{a,b}` evaluates them, under nixpkgs' real module
system (tests/nix/eval.nix): they pass NixOS's assertions and ours, the files they render pass the Python
schemas, their units carry the sandbox and credentials the Python side expects, and Machine B reaches
Machine A by a name and port the two configurations agree on."""

import json
from typing import Any
from urllib.parse import urlsplit

from nixeval import evaluate, flake, needs_lib, system

from assistant.config import AssistantConfig
from swapd import config as swapd_config

pytestmark = needs_lib


def etc_file(host: str, name: str) -> dict[str, Any]:
    """The settings a host's /etc/<name> is rendered from, before the build checks them."""
    text = evaluate(
        flake(f'.nixosConfigurations.{host}.config.environment.etc."{name}".source.unchecked.value')
    )
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def test_both_hosts_build_with_only_the_ssh_key_reminder(evaluated: dict[str, Any]) -> None:
    a, b = evaluated["hosts"]["machine-a"], evaluated["hosts"]["machine-b"]

    assert a["toplevel"].endswith("-nixos-system-machine-a")
    assert b["toplevel"].endswith("-nixos-system-machine-b")
    assert a["warnings"] == [
        "hosts/machine-a.nix: users.users.dev has no SSH key and SSH refuses passwords; "
        "add yours to users.users.dev.openssh.authorizedKeys.keys"
    ]
    assert b["warnings"] == []


def test_every_output_nix_flake_check_evaluates_does() -> None:
    outputs = evaluate(
        f'let e = {flake()}; system = "x86_64-linux"; in {{ '
        "checks = builtins.mapAttrs (_: check: check.outPath or check.name) e.checks.${system}; "
        "packages = builtins.mapAttrs (_: package: package.outPath) e.packages.${system}; "
        "shell = e.devShells.${system}.default.outPath; swapctl = e.apps.${system}.swapctl.program; }"
    )

    assert outputs["checks"]["pytest"].endswith("-variet-pytest")
    assert sorted(outputs["checks"]) == ["machine-a", "machine-b", "pytest", "two-machines"]
    assert sorted(outputs["packages"]) == ["default", "llama-cpp-cuda", "variet", "vscode-extension"]
    assert outputs["swapctl"].endswith("/bin/swapctl")


def test_machine_a_renders_a_swapd_toml_swapd_accepts() -> None:
    settings = swapd_config.parse(etc_file("machine-a", "variet/swapd.toml"))
    llama_cpp = evaluate(flake(".packages.x86_64-linux.llama-cpp-cuda.outPath"))

    assert settings.default == "balanced"
    assert settings.control_socket_group == "swapd"
    # The module's default llama.cpp: the flake's CUDA build of the pinned sdist.
    assert settings.llama_server == f"{llama_cpp}/bin/llama-server"
    # A split GGUF: all parts in one linked directory, llama-server opens the first.
    deep = settings.tier("deep").model
    assert deep.endswith("-swapd-tier-deep-model/Qwen3.5-122B-A10B-Q4_K_M-00001-of-00003.gguf")
    assert settings.tier("fast").model.endswith("-gemma-4-26B-A4B-it-Q4_K_M.gguf")
    fim = settings.companion_for("fim")
    assert fim is not None and fim.model.endswith("-qwen2.5-coder-0.5b-q8_0.gguf")
    assert fim.gpus == (1,)


def test_swapd_unit_reaches_the_gpus_and_nothing_else(evaluated: dict[str, Any]) -> None:
    a = evaluated["hosts"]["machine-a"]
    unit = a["services"]["swapd"]["serviceConfig"]

    assert unit["ExecStart"].split()[1:3] == ["serve", "--config"]
    assert unit["DevicePolicy"] == "closed"
    assert "char-nvidia-frontend" in unit["DeviceAllow"]
    assert (unit["User"], unit["Group"], unit["RuntimeDirectory"]) == ("swapd", "swapd", "swapd")
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["ProtectSystem"] == "strict"
    # swapd's exceptions to the shared sandbox win over it: the GPUs stay visible, /proc/meminfo readable.
    assert unit["PrivateDevices"] is False
    assert unit["ProcSubset"] == "all"
    assert unit["SystemCallFilter"] == ["@system-service @resources", "~@privileged"]
    assert unit["UMask"] == "0077"
    # The names swapd's config gives in api_key_files / admin_token_file.
    assert unit["LoadCredential"] == [
        "api-key:/var/lib/secrets/variet/swapd-api-key",
        "admin-token:/var/lib/secrets/variet/swapd-admin-token",
    ]
    assert a["users"]["swapd"]["isSystemUser"]
    assert "swapd" in a["groups"]
    assert "swapd" in a["users"]["dev"]["extraGroups"]


def test_swapds_port_is_open_on_the_lan_interface_only(evaluated: dict[str, Any]) -> None:
    firewall = evaluated["hosts"]["machine-a"]["firewall"]

    assert firewall["enable"]
    assert firewall["allowedTCPPorts"] == []
    assert firewall["interfaces"] == {"enp5s0": {"allowedTCPPorts": [22, 8080], "allowedUDPPorts": []}}


def test_the_firewall_opens_the_port_swapd_listens_on_when_settings_move_it() -> None:
    """issue 12: a `settings.port` override listened on one port and opened another."""
    modules = "(import ./hosts/machine-a.nix) { services.variet.swapd.settings.port = 9090; }"
    swapd_toml = '.environment.etc."variet/swapd.toml".source.unchecked.value'

    settings = swapd_config.parse(json.loads(evaluate(system(modules, swapd_toml))))
    summary = evaluate(system(modules, "summary"))

    assert settings.port == 9090
    assert summary["firewall"]["interfaces"]["enp5s0"]["allowedTCPPorts"] == [22, 9090]


def test_machine_b_renders_files_the_assistant_accepts() -> None:
    for name in ("variet/assistant.toml", "variet/assistant-service.toml"):
        config = AssistantConfig.model_validate(etc_file("machine-b", name))

        assert sorted(config.mcp.servers) == ["calendar", "gmail", "searxng"]
        assert str(config.searxng.url) == "http://127.0.0.1:8888/"
        assert config.discord is not None and config.discord.owner_ids


def test_machine_b_reaches_swapd_by_a_name_it_declares(evaluated: dict[str, Any]) -> None:
    """issue 12: Machine B named Machine A without declaring the name anywhere."""
    b = evaluated["hosts"]["machine-b"]
    url = urlsplit(
        str(AssistantConfig.model_validate(etc_file("machine-b", "variet/assistant.toml")).llm.url)
    )
    swapd = swapd_config.parse(etc_file("machine-a", "variet/swapd.toml"))
    opened = evaluated["hosts"]["machine-a"]["firewall"]["interfaces"]["enp5s0"]["allowedTCPPorts"]

    assert any(url.hostname in names for names in b["hosts"].values()), b["hosts"]
    assert url.port == swapd.port
    assert swapd.port in opened


def test_the_bot_unit_gets_credentials_under_the_names_the_assistant_reads(evaluated: dict[str, Any]) -> None:
    bot = evaluated["hosts"]["machine-b"]["services"]["assistant-discord"]["serviceConfig"]

    assert bot["ExecStart"].endswith("/bin/assistant discord --config /etc/variet/assistant-service.toml")
    assert bot["DynamicUser"] is True
    assert bot["StateDirectory"] == "variet-assistant"
    names = sorted(entry.split(":", 1)[0] for entry in bot["LoadCredential"])
    assert names == ["discord-token", "google-client-secret", "swapd-admin-token", "swapd-api-key"]


def test_local_searxng_is_on_loopback_with_json() -> None:
    searx = evaluate(flake(".nixosConfigurations.machine-b.config.services.searx"))

    assert searx["enable"]
    assert searx["settings"]["server"]["bind_address"] == "127.0.0.1"
    assert "json" in searx["settings"]["search"]["formats"]
    assert searx["environmentFile"] == "/var/lib/secrets/variet/searx.env"


def test_a_minimal_assistant_runs_only_the_tool_servers_asked_for() -> None:
    module = (
        '{ services.variet.assistant = { enable = true; swapd.url = "http://machine-a:8080"; '
        'httpToolServers.searxng.port = 8701; searxng.local.environmentFile = "/run/searx.env"; }; '
        'networking.hostName = "b"; system.stateVersion = "25.11"; }'
    )
    units = evaluate(system(f"./hosts/hardware/machine-b.nix {module}", "summary"))["services"]

    assert sorted(units) == ["assistant-mcp-searxng", "searx", "searx-init"]
    http = units["assistant-mcp-searxng"]["serviceConfig"]
    assert "/bin/assistant mcp searxng --transport http --port 8701 --config" in http["ExecStart"]
    assert http["LoadCredential"] == []
