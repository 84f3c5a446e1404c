"""Fixtures for the Discord front end: discord.py's real models over the in-memory fake Discord."""

from collections.abc import AsyncIterator

import discord
import pytest
from fakes.discord_gateway import FakeClock, FakeDiscord


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    client = discord.Client(intents=discord.Intents.none())
    fake = FakeDiscord(client)
    await fake.start()
    yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
