"""modules/*.nix evaluated with stand-ins for nixpkgs (tests/nix/stub-eval.nix), on the hosts' data.

Every option and unit attribute is forced, so a misspelt option or attribute fails here; the settings
the module renders must pass the Python schemas, and the units must carry the sandbox and credentials
the Python side expects. Option types and priorities are nixpkgs' job and are not checked here.
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from assistant.config import AssistantConfig
from swapd import config as swapd_config

ROOT = Path(__file__).resolve().parents[2]
NIX = shutil.which("nix-instantiate")
pytestmark = pytest.mark.skipif(NIX is None, reason="no nix-instantiate (Debian: apt-get install nix-bin)")

MACHINE_A = "host = ./hosts/machine-a.nix;"
MACHINE_B = "host = ./hosts/machine-b.nix;"


def evaluate(module: str, given: str, select: str = "") -> Any:
    """The module's `config` (or a part of it, `select`) as JSON; `given` is `host = …;` or `values = …;`."""
    assert NIX is not None
    expr = f"(import ./tests/nix/stub-eval.nix {{ module = ./modules/{module}; {given} }}){select}"
    done = subprocess.run(
        [NIX, "--eval", "--strict", "--json", "--expr", expr], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def failed(config: dict[str, Any]) -> list[str]:
    """The messages of the module's assertions that do not hold (NixOS refuses to build with any)."""
    return [a["message"] for a in config["assertions"] if not a["assertion"]]


@pytest.mark.parametrize(("module", "host"), [("swapd.nix", MACHINE_A), ("assistant.nix", MACHINE_B)])
def test_the_hosts_satisfy_the_modules_assertions(module: str, host: str) -> None:
    assert failed(evaluate(module, host)) == []


def test_swapd_module_renders_settings_swapd_accepts() -> None:
    config = evaluate("swapd.nix", MACHINE_A)

    settings = swapd_config.parse(config["services"]["variet"]["swapd"]["settings"])

    assert settings.default == "balanced"
    assert settings.control_socket_group == "swapd"
    deep = settings.tier("deep").model
    # A split GGUF: all parts in one linked directory, llama-server opens the first.
    assert deep.endswith("-swapd-tier-deep-model/Qwen3.5-122B-A10B-Q4_K_M-00001-of-00003.gguf")
    assert settings.tier("fast").model.endswith("-gemma-4-26B-A4B-it-Q4_K_M.gguf")
    assert settings.llama_server.endswith("/bin/llama-server")


def test_swapd_unit_reaches_the_gpus_and_nothing_else() -> None:
    config = evaluate("swapd.nix", MACHINE_A)
    unit = config["systemd"]["services"]["swapd"]["serviceConfig"]

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
    assert config["networking"]["firewall"]["interfaces"] == {"enp5s0": {"allowedTCPPorts": [8080]}}
    assert config["users"]["groups"] == {"swapd": {}}


def test_swapd_module_as_the_vm_tests_use_it() -> None:
    values = '(import ./checks/data/swapd.nix) // { enable = true; apiKeyFile = "/k"; }'
    rendered = evaluate("swapd.nix", f"values.swapd = {values};", ".services.variet.swapd.settings")
    # The VM node adds this key through `settings`, which wins over the rendered defaults.
    rendered["gpu"]["fake_file"] = "/nix/store/x-gpu-2x3060.json"

    settings = swapd_config.parse(rendered)

    assert settings.gpu.backend == "fake"
    assert settings.tier("fast").model == "/etc/swapd-vm/stub.gguf"


def test_an_undeclared_option_fails_evaluation() -> None:
    assert NIX is not None
    expr = (
        "import ./tests/nix/stub-eval.nix { module = ./modules/swapd.nix; "
        'values.swapd = { enable = true; defaultTeir = "fast"; }; }'
    )
    done = subprocess.run(
        [NIX, "--eval", "--strict", "--json", "--expr", expr], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "defaultTeir do not exist" in done.stderr


def assistant_file(name: str) -> dict[str, Any]:
    """The TOML the module writes to /etc/variet/<name>, before `assistant check-config` runs on it."""
    data = evaluate(
        "assistant.nix",
        MACHINE_B,
        f'.environment.etc."variet/{name}".source.env.unchecked.value',
    )
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", ["assistant.toml", "assistant-service.toml"])
def test_assistant_module_renders_files_the_assistant_accepts(name: str) -> None:
    data = assistant_file(name)
    config = AssistantConfig.model_validate(data)
    bot = config.discord

    assert sorted(config.mcp.servers) == ["calendar", "gmail", "searxng"]
    assert str(config.searxng.url) == "http://127.0.0.1:8888/"
    assert bot.owner_ids


def test_the_bot_unit_gets_credentials_under_the_names_the_assistant_reads() -> None:
    config = evaluate("assistant.nix", MACHINE_B)
    bot = config["systemd"]["services"]["assistant-discord"]["serviceConfig"]

    assert bot["ExecStart"].endswith("/bin/assistant discord --config /etc/variet/assistant-service.toml")
    assert bot["DynamicUser"] is True
    assert bot["StateDirectory"] == "variet-assistant"
    names = sorted(entry.split(":", 1)[0] for entry in bot["LoadCredential"])
    assert names == ["discord-token", "google-client-secret", "swapd-admin-token", "swapd-api-key"]


def test_a_minimal_assistant_runs_only_the_tool_servers_asked_for() -> None:
    config = evaluate(
        "assistant.nix",
        "values.assistant = { enable = true; httpToolServers.searxng.port = 8701; "
        'searxng.local.environmentFile = "/run/searx.env"; };',
    )
    assert failed(config) == []
    # The stand-in's mkIf leaves `{ }` where NixOS would define nothing.
    units = {name: unit for name, unit in config["systemd"]["services"].items() if unit}

    assert sorted(units) == ["assistant-mcp-searxng", "searx"]
    http = units["assistant-mcp-searxng"]["serviceConfig"]
    assert "/bin/assistant mcp searxng --transport http --port 8701 --config" in http["ExecStart"]
    assert http["LoadCredential"] == []


def test_local_searxng_is_on_loopback_with_json() -> None:
    searx = evaluate("assistant.nix", MACHINE_B, ".services.searx")

    assert searx["settings"]["server"]["bind_address"] == "127.0.0.1"
    assert "json" in searx["settings"]["search"]["formats"]
    assert searx["environmentFile"] == "/var/lib/secrets/variet/searx.env"


def test_bad_combinations_are_refused_with_a_message() -> None:
    assistant = evaluate(
        "assistant.nix",
        "values.assistant = { enable = true; discord.enable = true; google.gmail.enable = true; "
        "httpToolServers.web.port = 8701; };",
    )
    swapd = evaluate(
        "swapd.nix",
        'values.swapd = { enable = true; defaultTier = "huge"; openFirewall = true; '
        'tiers.fast = { model = "/m.gguf"; contextSize = 4096; vramMiB = 0; }; };',
    )

    assert failed(assistant) == [
        "services.variet.assistant.discord needs tokenFile and at least one of ownerIds",
        "services.variet.assistant.google: the Calendar and Gmail tools need clientSecretFile",
        "services.variet.assistant.searxng.local needs environmentFile (SEARX_SECRET_KEY=...)",
        "services.variet.assistant.httpToolServers: the tool servers are searxng, calendar, gmail",
    ]
    assert failed(swapd) == [
        "services.variet.swapd.defaultTier is 'huge', but the tiers are: fast",
        "services.variet.swapd.openFirewall opens the port on one interface only: "
        "set services.variet.swapd.lanInterface",
    ]
