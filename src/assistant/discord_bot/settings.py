"""The `[discord]` section of `assistant.toml`; secrets are named, never inlined.

Kept free of discord.py imports so `config.py` can compose it cheaply.
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class DiscordSettings(BaseModel):
    """Who the bot answers, where, and the limits it keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The bot token: a systemd credential of this name wins; otherwise the owner-only (0600) file.
    token_credential: str = "discord-token"  # noqa: S105 (a name, not a secret)
    token_file: Path | None = None
    # Only these user IDs are answered; everyone else is ignored (and logged without content).
    owner_ids: frozenset[int] = frozenset()
    # Guild text channels where an @mention is answered; threads under them are answered too.
    channel_ids: frozenset[int] = frozenset()
    # The one server the bot serves besides DMs; messages from any other server are ignored. None: any.
    guild_id: int | None = None
    # How many messages of a reply chain become the conversation.
    max_messages: int = Field(default=25, ge=1, le=200)
    # Text attachments larger than this are skipped with a warning; other kinds are never read.
    max_attachment_bytes: int = Field(default=100_000, ge=1, le=8_000_000)
    # Attach the model's hidden reasoning to the reply as `reasoning.txt`.
    attach_reasoning: bool = False
    # At most one edit per message per this many seconds while an answer streams.
    edit_interval_s: float = Field(default=1.0, ge=0.2, le=30)
    # How many messages' parsed text is kept in memory so chains are not fetched again.
    cache_messages: int = Field(default=500, ge=10, le=100_000)
