"""The pure-data .nix files, rendered by the modules' own Nix functions and validated by the Python schemas.

modules/render/*.nix turn the NixOS options into swapd.toml and assistant.toml; here they run under
`nix-instantiate --eval --strict --json` (no nixpkgs needed) on the hosts' data and the VM tests' data, and
the result must pass the same pydantic models `swapd check-config` and `assistant check-config` use.
"""

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from assistant.config import AssistantConfig
from swapd import config as swapd_config
from swapd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
NIX = shutil.which("nix-instantiate")
pytestmark = pytest.mark.skipif(NIX is None, reason="no nix-instantiate (Debian: apt-get install nix-bin)")

RENDER_SWAPD = """
import ./modules/render/swapd.nix {{
  cfg = {cfg};
  modelPath = label: model:
    if builtins.isAttrs model then "/nix/store/00000000000000000000000000000000-${{label}}.gguf" else model;
  llamaServer = "/nix/store/00000000000000000000000000000000-llama-cpp/bin/llama-server";
  hasApiKey = {has_key};
  hasAdminToken = true;
}}
"""

RENDER_ASSISTANT = """
import ./modules/render/assistant.nix ({{
  cfg = {cfg};
  assistant = "/nix/store/00000000000000000000000000000000-variet/bin/assistant";
  configPath = "/etc/variet/assistant.toml";
}} // {extra})
"""


def evaluate(expr: str) -> object:
    """Evaluate a Nix expression (relative paths from the repository root) to JSON."""
    assert NIX is not None
    done = subprocess.run(
        [NIX, "--eval", "--strict", "--json", "--expr", expr],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def render_swapd(cfg: str, has_key: bool = True) -> dict[str, object]:
    data = evaluate(RENDER_SWAPD.format(cfg=cfg, has_key="true" if has_key else "false"))
    assert isinstance(data, dict)
    return data


def render_assistant(cfg: str, extra: str = "{ }") -> dict[str, object]:
    data = evaluate(RENDER_ASSISTANT.format(cfg=cfg, extra=extra))
    assert isinstance(data, dict)
    return data


def test_machine_a_tiers_pass_swapds_schema() -> None:
    config = swapd_config.parse(render_swapd("import ./nix/data/machine-a-swapd.nix"))

    assert config.tier_names == ("balanced", "deep", "fast")
    assert config.default == "balanced"
    assert config.api_key_files == ("api-key",)
    assert config.admin_token_file == "admin-token"
    assert config.gpu.backend == "nvml"
    deep = swapd_config.command(config, config.tier("deep"), 9000)
    assert deep[deep.index("--n-cpu-moe") + 1] == "40"
    assert deep[deep.index("--model") + 1].endswith("-tier-deep.gguf")


def test_machine_a_carries_a_fim_companion_that_fits_beside_every_tier() -> None:
    config = swapd_config.parse(render_swapd("import ./nix/data/machine-a-swapd.nix"))
    fim = config.companion_for("fim")
    assert fim is not None

    argv = swapd_config.companion_command(config, fim, 9000)
    assert argv[argv.index("--model") + 1].endswith("-companion-fim.gguf")
    assert swapd_config.companion_env(fim) == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    # 2 x RTX 3060 12 GB, less swapd's margin, hold every tier with the companion beside it.
    budget = 2 * 12288 - config.gpu.margin_mib
    for tier in config.tiers:
        assert tier.vram_mib + fim.vram_mib <= budget, tier.name


def test_machine_a_companion_is_a_qwen_coder_fim_model() -> None:
    data = evaluate("(import ./nix/data/machine-a-swapd.nix).companions")
    assert isinstance(data, dict)

    (model,) = [companion["model"] for companion in data.values()]
    assert model["url"].startswith("https://huggingface.co/ggml-org/Qwen2.5-Coder-")
    assert model["url"].endswith(".gguf")


def test_machine_a_models_are_pinned_fetches_of_gguf_files() -> None:
    data = evaluate("let d = import ./nix/data/machine-a-swapd.nix; in d.tiers // d.companions")
    assert isinstance(data, dict)
    for name, tier in data.items():
        model = tier["model"]
        parts = [model, *model.get("extraParts", [])]
        for part in parts:
            assert part["url"].startswith("https://huggingface.co/"), name
            assert part["url"].endswith(".gguf"), name
            assert part["sha256"].startswith("sha256-"), name


def test_vm_test_tiers_pass_swapds_schema() -> None:
    data = render_swapd("import ./checks/data/swapd.nix")
    data["gpu"] = {**data["gpu"], "fake_file": "/etc/swapd-vm/gpus.json"}  # type: ignore[dict-item]

    config = swapd_config.parse(data)

    assert config.tier_names == ("balanced", "deep", "fast")
    assert config.resolve("small") == "fast"
    assert config.tier("balanced").parallel == 2


def test_swapd_without_an_api_key_on_the_lan_is_refused() -> None:
    """The module's build-time `swapd check-config` stops a LAN port with no key."""
    with pytest.raises(ConfigError, match="api_key_files"):
        swapd_config.parse(render_swapd("import ./nix/data/machine-a-swapd.nix", has_key=False))


USER_COPY = '{ secretFile = name: _: "~/.config/variet/${name}"; }'
UNIT_COPY = '{ stateDir = "/var/lib/variet-assistant"; }'


@pytest.mark.parametrize("extra", [USER_COPY, UNIT_COPY], ids=["user", "unit"])
def test_machine_b_settings_pass_the_assistants_schema(extra: str) -> None:
    data = render_assistant("import ./nix/data/machine-b-assistant.nix", extra)
    config = AssistantConfig.model_validate(data)
    bot = config.discord

    assert sorted(config.mcp.servers) == ["calendar", "gmail", "searxng"]
    assert config.gmail.read_only
    assert str(config.llm.url) == "http://machine-a:8080/"
    assert bot.owner_ids == frozenset({100000000000000001})


def test_the_units_copy_names_the_root_only_files_and_its_state() -> None:
    data = render_assistant("import ./nix/data/machine-b-assistant.nix", UNIT_COPY)
    config = AssistantConfig.model_validate(data)

    assert config.llm.api_key_file == Path("/var/lib/secrets/variet/swapd-api-key")
    assert config.google.state_dir == Path("/var/lib/variet-assistant")
    for name, server in config.mcp.servers.items():
        assert server.command is not None
        assert server.command[1:] == ("mcp", name, "--config", "/etc/variet/assistant.toml")


def test_the_users_copy_names_their_own_files() -> None:
    data = render_assistant("import ./nix/data/machine-b-assistant.nix", USER_COPY)
    config = AssistantConfig.model_validate(data)
    bot = config.discord

    assert config.llm.api_key_file == Path("~/.config/variet/swapd-api-key")
    assert config.llm.admin_token_file == Path("~/.config/variet/swapd-admin-token")
    assert config.google.client_secret_file == Path("~/.config/variet/google-client-secret")
    assert bot.token_file == Path("~/.config/variet/discord-token")


def test_without_the_bot_there_is_no_discord_section() -> None:
    data = render_assistant("import ./nix/data/machine-b-assistant.nix // { discord.enable = false; }")

    assert "discord" not in data
    AssistantConfig.model_validate(data)


def nix_string(value: str) -> str:
    return json.dumps(value).replace("${", "\\${")


class TierData(NamedTuple):
    ctx_size: int
    parallel: int
    vram_mib: int
    args: list[str]

    def nix(self, name: str) -> str:
        args = " ".join(nix_string(a) for a in self.args)
        return (
            f"{nix_string(name)} = {{ model = {nix_string('/models/' + name + '.gguf')}; "
            f"contextSize = {self.ctx_size}; parallel = {self.parallel}; vramMiB = {self.vram_mib}; "
            f"extraArgs = [ {args} ]; }};"
        )


tier_names = st.from_regex(r"[a-z][a-z0-9_-]{0,11}", fullmatch=True).filter(lambda n: n != "auto")
tier_data = st.builds(
    TierData,
    st.integers(1, 1 << 20),
    st.integers(1, 16),
    st.integers(0, 96 * 1024),
    st.lists(st.sampled_from(["--flash-attn", "on", "--n-cpu-moe", "12", "-t", "8"])),
)


@settings(max_examples=15, deadline=None)
@given(tiers=st.dictionaries(tier_names, tier_data, min_size=1, max_size=4))
def test_any_tier_table_renders_to_what_swapd_reads(tiers: dict[str, TierData]) -> None:
    """Every typed tier option lands in the field of swapd's schema that means the same thing."""
    body = " ".join(t.nix(name) for name, t in tiers.items())
    first = nix_string(next(iter(tiers)))
    cfg = (
        f'{{ listenAddress = "127.0.0.1"; port = 18080; defaultTier = {first}; policy = "pinned"; '
        f'gpu = "nvml"; tiers = {{ {body} }}; }}'
    )

    config = swapd_config.parse(render_swapd(cfg))

    assert set(config.tier_names) == set(tiers)
    assert config.policy is swapd_config.Policy.PINNED
    for name, t in tiers.items():
        tier = config.tier(name)
        assert tier.model == f"/models/{name}.gguf"
        assert (tier.ctx_size, tier.parallel, tier.vram_mib) == (t.ctx_size, t.parallel, t.vram_mib)
        assert list(tier.args) == t.args


class CompanionData(NamedTuple):
    tier: TierData
    gpus: list[int]
    aliases: list[str]

    def nix(self, name: str) -> str:
        table = self.tier.nix(name).removesuffix(" };")
        gpus = " ".join(str(g) for g in self.gpus)
        aliases = " ".join(nix_string(a) for a in self.aliases)
        return f"{table} gpus = [ {gpus} ]; aliases = [ {aliases} ]; }};"


companion_data = st.builds(
    CompanionData,
    tier_data,
    st.lists(st.integers(0, 7), unique=True, max_size=2),
    st.lists(st.from_regex(r"c[a-z0-9]{0,6}", fullmatch=True), unique=True, max_size=2),
)


@settings(max_examples=15, deadline=None)
@given(companions=st.dictionaries(tier_names.map(lambda n: "x" + n), companion_data, max_size=3))
def test_any_companion_table_renders_to_what_swapd_reads(companions: dict[str, CompanionData]) -> None:
    """Every typed companion option lands in the field of swapd's Companion that means the same thing."""
    aliases = [a for c in companions.values() for a in c.aliases]
    assume(len(aliases) == len(set(aliases)))
    body = " ".join(c.nix(name) for name, c in companions.items())
    cfg = (
        '{ listenAddress = "127.0.0.1"; port = 18080; defaultTier = "fast"; policy = "on_demand"; '
        'gpu = "nvml"; tiers.fast = { model = "/models/fast.gguf"; contextSize = 4096; vramMiB = 0; }; '
        f"companions = {{ {body} }}; }}"
    )

    config = swapd_config.parse(render_swapd(cfg))

    assert {c.name for c in config.companions} == set(companions)
    for name, c in companions.items():
        companion = config.companion_for(name)
        assert companion is not None
        assert companion.model == f"/models/{name}.gguf"
        assert (companion.ctx_size, companion.parallel, companion.vram_mib) == (
            c.tier.ctx_size,
            c.tier.parallel,
            c.tier.vram_mib,
        )
        assert list(companion.args) == c.tier.args
        assert list(companion.gpus) == c.gpus
        assert list(companion.aliases) == c.aliases


UNFREE = """
let
  lib = {{ getName = p: p.pname; toList = x: if builtins.isList x then x else [ x ]; }};
  config = import ./nix/machine-a-nixpkgs-config.nix {{ inherit lib; }};
  unfree = shortName: {{ free = false; inherit shortName; }};
in
map config.allowUnfreePredicate [ {packages} ]
"""


def test_machine_a_allows_unfree_for_cuda_and_the_driver_only() -> None:
    packages = [
        '{ pname = "cuda_cudart"; meta.license = unfree "CUDA EULA"; }',
        '{ pname = "libcublas"; meta.license = [ (unfree "CUDA EULA") { free = true; shortName = "x"; } ]; }',
        '{ pname = "nvidia-x11"; meta.license = unfree "unfreeRedistributable"; }',
        '{ pname = "vscode"; meta.license = unfree "unfree"; }',
        '{ pname = "steam"; meta.license = [ (unfree "unfreeRedistributable") ]; }',
    ]
    allowed = evaluate(UNFREE.format(packages=" ".join(f"({p})" for p in packages)))

    assert allowed == [True, True, True, False, False]
    assert evaluate("(import ./nix/machine-a-nixpkgs-config.nix { lib = { }; }).cudaCapabilities") == ["8.6"]


# PyPI name -> nixpkgs python3Packages attribute, where they differ.
NIXPKGS_NAMES = {"discord.py": "discordpy"}
VARIET_DEPENDENCIES = """
let
  stub = name: {{ override = _: name; }} // {{ outPath = name; }};
  package = import ./nix/variet.nix (
    builtins.mapAttrs (name: _: stub name) (builtins.functionArgs (import ./nix/variet.nix))
    // {{
      lib = {{
        fileset = {{ toSource = _: "src"; unions = x: x; }};
        licenses.mit = "mit";
        platforms.linux = [ ];
      }};
      buildPythonApplication = args: args;
    }}
  );
in
map (dependency: if builtins.isString dependency then dependency else dependency.outPath) package.dependencies
"""


def test_the_nix_package_depends_on_what_pyproject_lists() -> None:
    """A dependency added to pyproject.toml must reach nix/variet.nix too, or the Nix build lacks it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {
        NIXPKGS_NAMES.get(name, name)
        for name in (
            re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]
        )
    }

    packaged = evaluate(VARIET_DEPENDENCIES.format())

    assert isinstance(packaged, list)
    assert set(packaged) == wanted
