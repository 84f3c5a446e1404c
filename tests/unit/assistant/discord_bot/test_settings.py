"""The `[discord]` section: parsed from assistant.toml, typos refused, the token file found near it."""

from pathlib import Path

import pytest

from assistant.config import load_config, parse_config
from assistant.errors import ConfigError


def test_discord_section_is_parsed() -> None:
    config = parse_config(
        """
[discord]
token_credential = "bot-token"
owner_ids = [100000000000000001]
channel_ids = [200000000000000002, 200000000000000003]
max_messages = 10
attach_reasoning = true
"""
    )
    discord = config.discord
    assert discord.owner_ids == {100000000000000001}
    assert discord.channel_ids == {200000000000000002, 200000000000000003}
    assert (discord.max_messages, discord.attach_reasoning, discord.token_credential) == (
        10,
        True,
        "bot-token",
    )


def test_a_typo_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"discord\.owner_id: Extra inputs are not permitted"):
        parse_config("[discord]\nowner_id = [1]\n")


def test_the_token_file_is_relative_to_the_config(tmp_path: Path) -> None:
    path = tmp_path / "assistant.toml"
    path.write_text('[discord]\ntoken_file = "secrets/discord-token"\nowner_ids = [1]\n')
    assert load_config(path).discord.token_file == tmp_path / "secrets" / "discord-token"
