"""assistant.toml: the shipped examples pass, and every bad field fails with one line that names it."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.config import AssistantConfig, load_config, parse_config
from assistant.errors import ConfigError

EXAMPLES = Path(__file__).parents[3] / "examples"
SECTIONS = ["llm", "mcp", "policy", "chat", "searxng", "google", "calendar", "gmail", "discord"]


@pytest.mark.parametrize("name", ["assistant.toml", "assistant-demo.toml"])
def test_the_examples_are_valid(name: str) -> None:
    config = load_config(EXAMPLES / name)
    assert isinstance(config, AssistantConfig)


def test_the_full_example_means_what_it_says() -> None:
    config = load_config(EXAMPLES / "assistant.toml")
    assert sorted(config.mcp.servers) == ["calendar", "gmail", "searxng"]
    assert config.policy.tools["calendar__delete_event"] == "deny"
    assert config.mcp.servers["searxng"].command == (
        "assistant", "mcp", "searxng", "--config", "/etc/variet/assistant.toml"
    )  # fmt: skip


def test_an_empty_file_is_all_defaults() -> None:
    config = parse_config("")
    assert config.llm.tier == "auto" and config.chat.max_steps == 8 and not config.mcp.servers


@given(st.sampled_from(SECTIONS), st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True))
def test_an_unknown_key_is_named(section: str, key: str) -> None:
    if key in AssistantConfig.model_fields[section].annotation.model_fields:  # type: ignore[union-attr]
        return
    with pytest.raises(ConfigError, match=rf"^x.toml: {section}\.{key}: Extra inputs are not permitted$"):
        parse_config(f"[{section}]\n{key} = 1\n", "x.toml")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[llm]\nidle_timeout_s = 0", "llm.idle_timeout_s"),
        ('[policy.tools]\n"web__search" = "maybe"', "policy.tools.web__search"),
        ("[mcp.servers.web]\ncall_timeout_s = 5", "mcp.servers.web"),
        ('[mcp.servers.web]\ncommand = ["x"]\nurl = "http://h/mcp"', "mcp.servers.web"),
        ('[mcp.servers."bad__name"]\ncommand = ["x"]', "mcp.servers.bad__name"),
        ("[chat]\nmax_steps = 0", "chat.max_steps"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_field(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "a.toml")
    message = str(caught.value)
    assert message.startswith(f"a.toml: {where}")
    assert "\n" not in message


def test_broken_toml_and_a_missing_file_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^a\.toml: invalid TOML"):
        parse_config("[llm", "a.toml")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "assistant.toml"
    path.parent.mkdir()
    path.write_text('[llm]\ncontrol_socket = "../run/control.sock"\napi_key_file = "/abs/key"\n')
    config = load_config(path)
    assert config.llm.control_socket == tmp_path / "conf" / "../run/control.sock"
    assert config.llm.api_key_file == Path("/abs/key")
    assert config.llm.admin_token_file is None
