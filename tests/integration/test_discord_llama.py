"""One real round trip: a Discord DM through the bot's agent loop to a real llama-server on the tiny
model, the answer posted back through discord.py's models."""

import asyncio

import pytest
from discord_rig import rig
from llama import running_llama

pytestmark = pytest.mark.integration


def test_a_dm_is_answered_by_the_real_model() -> None:
    async def go() -> list[str]:
        async with rig(llama.url, tools=False, max_tokens=24) as r:
            dm = r.discord.dm(r.owner)
            await r.bot.handle(r.discord.post(dm, r.owner, "Say hello in one short sentence."))
            return r.answers()

    with running_llama() as llama:
        answers = asyncio.run(go())
    assert len(answers) == 1
    assert answers[0].strip()
    assert not answers[0].startswith(("⚠️", "(the model gave an empty answer)")), answers[0]
