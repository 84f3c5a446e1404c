"""Fixtures for the Discord front end: discord.py's real models over the in-memory fake Discord."""

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest
from fakes.discord_gateway import FakeDiscord

from assistant.discord_bot.clock import Clock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    client = discord.Client(intents=discord.Intents.none())
    fake = FakeDiscord(client)
    await fake.start()
    yield fake


class FakeClock(Clock):
    """Time that moves only when a test says so; sleepers wake when their moment is reached."""

    def __init__(self) -> None:
        self._now = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._changed = asyncio.Condition()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, wake))
        async with self._changed:
            self._changed.notify_all()
        try:
            await wake
        finally:
            self._sleepers = [(at, f) for at, f in self._sleepers if f is not wake]

    async def sleeping(self, count: int = 1) -> list[float]:
        """Wait until `count` tasks sleep on this clock; their wake-up times."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._sleepers) >= count)
        return sorted(at for at, _ in self._sleepers)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        for at, wake in self._sleepers:
            if at <= self._now and not wake.done():
                wake.set_result(None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
