"""Config: the shipped example passes, every bad field gets one line naming it, unknown keys are errors."""

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FAKE_LLAMA, tier
from hypothesis import given
from hypothesis import strategies as st

from swapd import config as configuration
from swapd.__main__ import main
from swapd.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "swapd-demo.toml"


def base(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "listen": "127.0.0.1",
        "llama_server": "/bin/llama-server",
        "tiers": [tier("fast")],
    }
    data.update(overrides)
    return data


def test_demo_config_has_three_tiers_with_different_context_and_slots() -> None:
    config = configuration.load(EXAMPLE)
    assert config.tier_names == ("fast", "balanced", "deep")
    assert len({(t.ctx_size, t.parallel) for t in config.tiers}) == 3
    assert config.state_dir == EXAMPLE.parent.parent / ".venv" / "swapd-demo" / "state"
    assert config.gpu.backend == "none"
    assert config.tier(config.default).chat_template_file is None, (
        "the default tier: the model's own template"
    )
    assert config.drain_grace_s is None, "a demo swap waits for answers in progress"


def test_issue_13_by_default_a_drain_waits_with_no_time_limit() -> None:
    assert configuration.parse(base()).drain_grace_s is None
    assert configuration.parse(base(drain_grace_s=10)).drain_grace_s == 10


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            base(tiers=[{**tier("fast"), "ctx_size": 0}]),
            "tiers[fast].ctx_size: Input should be greater than 0",
        ),
        (base(tiers=[{**tier("fast"), "colour": 1}]), "tiers[fast].colour: unknown key"),
        (base(prot=80), "prot: unknown key"),
        (base(tiers=[{**tier("fast"), "args": ["-c", "4096"]}]), "args: -c is set by swapd; use ctx_size"),
        (
            base(tiers=[tier("fast"), {**tier("deep"), "aliases": ["fast"]}]),
            "'fast' names both 'fast' and 'deep'",
        ),
        (base(listen="0.0.0.0"), "api_key_files: required unless listen is a loopback address"),
        (base(default_tier="deeep"), "default_tier: unknown tier 'deeep' (known: fast)"),
        (base(gpu={"backend": "fake"}), "backend 'fake' needs fake_file"),
        (base(policy="sometimes"), "policy: Input should be 'on_demand' or 'pinned'"),
        (base(tiers=[]), "tiers: Tuple should have at least 1 item"),
        (base(health_interval_s=1), "health_interval_s: Input should be less than or equal to 0.1"),
    ],
)
def test_each_bad_field_gets_a_line_naming_it(data: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        configuration.parse(data)
    assert any(line in text for text in str(caught.value).splitlines()), str(caught.value)


@given(
    key=st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(
        lambda k: k not in configuration.Config.model_fields
    )
)
def test_any_unknown_top_level_key_is_refused_by_name(key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}: unknown key$"):
        configuration.parse(base(**{key: 1}))


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "swapd.toml").write_text(
        'listen = "127.0.0.1"\nllama_server = "bin/llama-server"\nstate_dir = "state"\n'
        'api_key_files = ["keys/api", "swapd-api-key"]\n'
        '[[tiers]]\nname = "fast"\nmodel = "models/f.gguf"\nctx_size = 512\n'
    )
    config = configuration.load(tmp_path / "swapd.toml")
    assert config.state_dir == tmp_path / "state"
    assert config.llama_server == str(tmp_path / "bin/llama-server")
    assert config.api_key_files == (str(tmp_path / "keys/api"), "swapd-api-key")
    assert config.tiers[0].model == str(tmp_path / "models/f.gguf")


def test_bad_toml_and_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("listen = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        configuration.load(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        configuration.load(tmp_path / "missing.toml")


def test_resolve_maps_names_aliases_and_auto() -> None:
    config = configuration.parse(base(tiers=[{**tier("fast"), "aliases": ["gemma"]}, tier("deep")]))
    assert [config.resolve(m) for m in (None, "auto", "fast", "gemma", "deep")] == [
        None,
        None,
        "fast",
        "fast",
        "deep",
    ]
    with pytest.raises(ConfigError.__base__, match="unknown model 'gpt-5'"):  # type: ignore[misc]
        config.resolve("gpt-5")


def test_check_config_prints_each_tiers_command_line(tmp_path: Path) -> None:
    path = tmp_path / "swapd.toml"
    path.write_text(
        f'listen = "127.0.0.1"\nllama_server = "{FAKE_LLAMA}"\n'
        '[[tiers]]\nname = "fast"\nmodel = "/m/f.gguf"\nctx_size = 512\nparallel = 4\nargs = ["-ngl", "99"]\n'
    )
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"fast: {FAKE_LLAMA} --model /m/f.gguf --ctx-size 512 --parallel 4 "
        "--host 127.0.0.1 --port PORT --slot-save-path /var/lib/swapd/slots/fast -ngl 99\n"
    )
    path.write_text('listen = "127.0.0.1"\nllama_server = "x"\ntiers = []\nmystery = 1\n')
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 1
    assert "swapd.toml: mystery: unknown key" in result.output


def fim(**fields: Any) -> dict[str, Any]:
    return {"name": "fim", "model": "/m/fim.gguf", "ctx_size": 4096, **fields}


@pytest.mark.parametrize(
    ("companions", "line"),
    [
        ([fim(name="fast")], "companions: 'fast' names both 'fast' and companion 'fast'"),
        ([fim(aliases=["gemma"])], "companions: 'gemma' names both 'fast' and companion 'fim'"),
        ([fim(), fim(aliases=["x"])], "companions: 'fim' names both 'fim' and companion 'fim'"),
        ([fim(name="auto")], "companions[auto]: 'auto' is reserved for the active tier"),
        ([fim(args=["--port", "1"])], "companions[fim]: args: --port is set by swapd"),
        ([fim(args=["-c=99"])], "companions[fim]: args: -c is set by swapd; use ctx_size"),
        ([fim(gpus=[1, 1])], "companions[fim]: gpus: [1, 1] lists a GPU twice"),
        ([fim(gpus=[-1])], "companions[fim].gpus[0]: Input should be greater than or equal to 0"),
        ([fim(vram_mib=-5)], "companions[fim].vram_mib: Input should be greater than or equal to 0"),
        ([fim(surprise=1)], "companions[fim].surprise: unknown key"),
    ],
)
def test_bad_companions_are_refused_with_one_line(companions: list[dict[str, Any]], line: str) -> None:
    tiers = [{**tier("fast"), "aliases": ["gemma"]}]
    with pytest.raises(ConfigError) as caught:
        configuration.parse(base(tiers=tiers, companions=companions))
    assert line in str(caught.value).splitlines()[0]


def test_a_companion_is_routed_by_name_or_alias_and_tiers_are_not() -> None:
    config = configuration.parse(base(companions=[fim(aliases=["coder"], args=["--chat-template-file=x"])]))
    assert [c.name if c else None for c in map(config.companion_for, ("fim", "coder", "fast", None))] == [
        "fim",
        "fim",
        None,
        None,
    ]
    with pytest.raises(ConfigError.__base__, match=r"unknown model 'x' \(known: fast, fim, or 'auto'\)"):  # type: ignore[misc]
        config.resolve("x")


def test_companion_command_and_gpu_placement() -> None:
    config = configuration.parse(base(companions=[fim(parallel=2, gpus=[1], args=["-ngl", "99"])]))
    (spec,) = config.companions
    assert configuration.companion_command(config, spec, 9) == [
        "/bin/llama-server",
        *("--model", "/m/fim.gguf", "--ctx-size", "4096", "--parallel", "2"),
        *("--host", "127.0.0.1", "--port", "9", "-ngl", "99"),
    ]
    assert configuration.companion_env(spec) == {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": "1",
    }
    assert configuration.companion_env(configuration.Companion(**fim())) == {}


def test_check_config_prints_companions_and_warns_about_a_missing_model_and_vram(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    gpus.write_text((Path(__file__).resolve().parents[2] / "fakes" / "gpu-2x3060.json").read_text())
    path = tmp_path / "swapd.toml"
    path.write_text(
        f'listen = "127.0.0.1"\nllama_server = "{FAKE_LLAMA}"\nprompt_cache_max_mib = 0\n'
        f'[gpu]\nbackend = "fake"\nfake_file = "{gpus}"\n'
        '[[tiers]]\nname = "fast"\nmodel = "/m/f.gguf"\nctx_size = 512\nvram_mib = 20000\n'
        '[[tiers]]\nname = "big"\nmodel = "/m/b.gguf"\nctx_size = 512\nvram_mib = 23000\n'
        '[[companions]]\nname = "fim"\nmodel = "./missing.gguf"\nctx_size = 256\nvram_mib = 1200\n'
        "gpus = [1]\n"
        '[[companions]]\nname = "odd"\nmodel = "/m/o.gguf"\nctx_size = 256\ngpus = [2]\n'
    )
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2] == (
        f"companion fim: CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=1 {FAKE_LLAMA} "
        f"--model {tmp_path / 'missing.gguf'} --ctx-size 256 --parallel 1 --host 127.0.0.1 --port PORT"
    )
    assert result.stderr.splitlines() == [
        f"swapd: warning: companion 'fim': model file {tmp_path / 'missing.gguf'} does not exist; "
        "it will not start",
        "swapd: warning: companion 'odd': model file /m/o.gguf does not exist; it will not start",
        "swapd: warning: tier 'big' (23000 MiB) + companions (1200 MiB) + margin (512 MiB) = 24712 MiB "
        "is more than the GPUs' 24576 MiB; swapd will refuse to load it",
        "swapd: warning: companion 'odd': gpus lists [2], but the GPUs are [0, 1]",
    ]
