"""The bot process: who counts as addressing it, the token and login errors, logs without secrets, and
a clean stop on SIGTERM. discord.py logs in over HTTP to the fake Discord's REST API."""

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from fakes.discord_gateway import FakeDiscord
from fakes.discord_rest import DiscordRest

from assistant.config import AssistantConfig
from assistant.discord_bot.access import Place
from assistant.discord_bot.bot import Bot, run
from assistant.discord_bot.settings import DiscordSettings
from assistant.errors import CredentialFileTooOpen, CredentialMissing, DiscordLoginFailed

pytestmark = pytest.mark.anyio

TOKEN = "MTAx.sentinel-token.do-not-log"


def token_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "discord-token"
    path.write_text(TOKEN + "\n")
    path.chmod(mode)
    return path


def settings(tmp_path: Path, **fields: Any) -> DiscordSettings:
    return DiscordSettings(owner_ids=frozenset({1}), token_file=token_file(tmp_path), **fields)


@pytest.fixture(autouse=True)
def no_systemd_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


async def test_missing_token_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialMissing, match="discord-token"):
        await run(AssistantConfig(), DiscordSettings(owner_ids=frozenset({1})))


async def test_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    loose = DiscordSettings(owner_ids=frozenset({1}), token_file=token_file(tmp_path, 0o644))
    with pytest.raises(CredentialFileTooOpen, match="chmod 600"):
        await run(AssistantConfig(), loose)


async def test_no_owner_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(DiscordLoginFailed, match="owner_ids is empty"):
        await run(AssistantConfig(), DiscordSettings(token_file=token_file(tmp_path)))


async def test_a_rejected_token_is_a_clear_error_that_never_shows_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with DiscordRest(token="MTAx.the-token-discord-knows") as discord_api:
        with (
            caplog.at_level(logging.DEBUG),
            pytest.raises(DiscordLoginFailed, match="rejected the bot token") as caught,
        ):
            await run(AssistantConfig(), settings(tmp_path))
    assert [(r.path, r.status) for r in discord_api.requests] == [("/users/@me", 401)]
    assert TOKEN not in str(caught.value)
    assert TOKEN not in caplog.text


async def test_sigterm_stops_the_bot_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connected, closed = asyncio.Event(), asyncio.Event()
    close = Bot.close

    async def connect(self: Bot, *, reconnect: bool = True) -> None:
        connected.set()
        await closed.wait()  # the gateway runs until the client closes

    async def closing(self: Bot) -> None:
        closed.set()
        await close(self)

    monkeypatch.setattr(Bot, "connect", connect)
    monkeypatch.setattr(Bot, "close", closing)

    async def terminate() -> None:
        await connected.wait()
        os.kill(os.getpid(), signal.SIGTERM)

    async with DiscordRest(token=TOKEN) as discord_api, asyncio.TaskGroup() as tasks:
        tasks.create_task(terminate())
        await run(AssistantConfig(), settings(tmp_path))
    asked = [f"{r.method} {r.path} {r.status}" for r in discord_api.requests]
    assert closed.is_set()
    assert asked[:2] == ["GET /users/@me 200", "GET /oauth2/applications/@me 200"]
    assert "PUT /applications/{application_id}/commands 200" in asked
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_the_token_is_redacted_from_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    from assistant.discord_bot.bot import _Redact

    caplog.handler.addFilter(_Redact(TOKEN))
    logging.getLogger("discord.http").warning("headers: Authorization: Bot %s", TOKEN)
    assert TOKEN not in caplog.text
    assert "Bot [redacted]" in caplog.text


async def test_arrival_reads_place_and_whether_the_bot_is_addressed(fake_discord: FakeDiscord) -> None:
    bot = Bot(DiscordSettings(owner_ids=frozenset({1})), backend=None)  # type: ignore[arg-type]
    bot._connection = fake_discord.state
    owner = fake_discord.user_payload("owner")
    channel = fake_discord.guild().text_channels[0]
    answer = fake_discord.post(channel, fake_discord.bot_user, "an answer")
    reply = fake_discord.post(channel, owner, "thanks", reply_to=answer.id)
    mention = fake_discord.post(channel, owner, f"<@{fake_discord.bot_user['id']}> hi")
    chatter = fake_discord.post(channel, owner, "hi all")
    thread = fake_discord.thread(channel)
    in_thread = fake_discord.post(thread, owner, "more")

    assert bot.arrival(reply).addressed
    assert bot.arrival(mention).addressed
    assert not bot.arrival(chatter).addressed
    assert bot.arrival(chatter).place is Place.CHANNEL
    assert (bot.arrival(in_thread).place, bot.arrival(in_thread).parent_id) == (Place.THREAD, channel.id)
    assert bot.arrival(fake_discord.post(fake_discord.dm(owner), owner, "hey")).place is Place.DM
    assert bot.arrival(chatter).guild_id == channel.guild.id
    assert bot.arrival(answer).author_is_bot
