"""Fixtures for the Discord front end: discord.py's real models and HTTP client over the fake Discord."""

from collections.abc import AsyncIterator

import discord
import pytest
from fakes.discord_gateway import FakeClock, FakeDiscord

from assistant.discord_bot.bot import MAX_RATELIMIT_TIMEOUT_S


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A client logged in to the fake Discord; like the bot's, it raises RateLimited for waits over 30 s."""
    async with FakeDiscord() as fake:
        client = discord.Client(intents=discord.Intents.none(), max_ratelimit_timeout=MAX_RATELIMIT_TIMEOUT_S)
        await fake.log_in(client)
        try:
            yield fake
        finally:
            await client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
