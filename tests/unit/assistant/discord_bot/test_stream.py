"""Streaming by editing: one edit per interval per message, newest text only, backing off on 429s.

Discord's 429s reach discord.py's own HTTP client: it retries the ones it can wait out, and raises the
rest (RateLimited past the client's max_ratelimit_timeout, HTTPException for Cloudflare's blocks).
"""

import asyncio

import discord
import pytest
from fakes.discord_gateway import FakeClock, FakeDiscord
from fakes.discord_rest import Answer, Request, blocked_by_cloudflare, rate_limited, unknown_message

from assistant.discord_bot.stream import LiveMessage, Reply

pytestmark = pytest.mark.anyio


def edits(request: Request) -> bool:
    return request.method == "PATCH"


def posts(request: Request) -> bool:
    return request.method == "POST" and request.path == "/channels/{channel_id}/messages"


async def posted(fake: FakeDiscord) -> tuple[discord.DMChannel, discord.Message]:
    dm = fake.dm(fake.user_payload("owner"))
    return dm, await dm.send("…")


async def test_edits_are_spaced_and_coalesced(fake_discord: FakeDiscord, clock: FakeClock) -> None:
    _, message = await posted(fake_discord)
    live = LiveMessage(message, clock, interval_s=1.0)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(live.run())
        live.show("Hel")
        assert await clock.sleeping() == [1001.0]
        live.show("Hello")
        live.show("Hello, world")
        assert not [r for r in fake_discord.requests if edits(r)]

        clock.advance(1.0)
        (edit,) = await fake_discord.requests_where(edits)
        assert edit.json is not None
        assert edit.json["content"] == "Hello, world"
        assert edit.json["allowed_mentions"] == {"parse": []}
        assert edit.json["flags"] == discord.MessageFlags.suppress_embeds.flag

        live.show("Hello, world!")
        assert await clock.sleeping() == [1002.0]
        live.close()
        clock.advance(1.0)
    assert [r.json["content"] for r in fake_discord.requests if edits(r) and r.json] == [
        "Hello, world",
        "Hello, world!",
    ]


@pytest.mark.parametrize("scope", ["user", "shared", "global"])
async def test_a_429_discord_py_can_wait_out_is_retried_by_discord_py_itself(
    fake_discord: FakeDiscord, clock: FakeClock, scope: str
) -> None:
    _, message = await posted(fake_discord)
    live = LiveMessage(message, clock, interval_s=1.0)
    fake_discord.fail_next(edits, rate_limited(0.05, scope=scope))
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(live.run())
        live.show("first")
        await clock.sleeping()
        clock.advance(1.0)
        limited, retried = await fake_discord.requests_where(edits, count=2)
        live.close()
    assert (limited.status, retried.status) == (429, 200)
    assert limited.json == retried.json
    assert fake_discord.messages[message.id]["content"] == "first"


async def test_a_route_discord_py_was_told_is_exhausted_is_waited_for_not_hit() -> None:
    async with FakeDiscord(limit=1, window_s=0.05) as fake:
        client = discord.Client(intents=discord.Intents.none())
        await fake.log_in(client)
        try:
            _, message = await posted(fake)
            await message.edit(content="one")
            await message.edit(content="two")
        finally:
            await client.close()
    assert [r.status for r in fake.requests] == [200, 200, 200]
    assert fake.messages[message.id]["content"] == "two"


@pytest.mark.parametrize(
    ("answer", "retry_at"),
    [(rate_limited(37.5), 1038.5), (blocked_by_cloudflare(8), 1009.0)],
    ids=["RateLimited over max_ratelimit_timeout", "Cloudflare 429"],
)
async def test_a_429_discord_py_gives_up_on_defers_the_next_edit(
    fake_discord: FakeDiscord, clock: FakeClock, answer: Answer, retry_at: float
) -> None:
    _, message = await posted(fake_discord)
    live = LiveMessage(message, clock, interval_s=1.0)
    fake_discord.fail_next(edits, answer)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(live.run())
        live.show("first")
        await clock.sleeping()
        clock.advance(1.0)
        await fake_discord.requests_where(edits)
        assert await clock.sleeping() == [retry_at]
        live.show("second")
        clock.advance(retry_at - 1001.5)
        assert len(await fake_discord.requests_where(edits)) == 1
        live.close()
        clock.advance(0.5)
    assert fake_discord.messages[message.id]["content"] == "second"


async def test_an_edit_that_fails_otherwise_does_not_stop_the_stream(
    fake_discord: FakeDiscord, clock: FakeClock
) -> None:
    _, message = await posted(fake_discord)
    live = LiveMessage(message, clock, interval_s=1.0)
    fake_discord.fail_next(edits, unknown_message())
    live.show("lost")
    live.close()
    clock.advance(1.0)
    await live.run()
    assert len([r for r in fake_discord.requests if edits(r)]) == 1


async def test_long_answers_continue_in_replies_to_the_previous_part(
    fake_discord: FakeDiscord, clock: FakeClock
) -> None:
    _, question = await posted(fake_discord)

    async def post(text: str, previous: discord.Message | None) -> discord.Message:
        return await (previous or question).reply(text, mention_author=False)

    async with Reply(post, clock, interval_s=1.0) as reply:
        await reply.show("short")
        await reply.show("word " * 500)
        clock.advance(1.0)
    first, second = reply.messages
    assert fake_discord.messages[first.id]["content"].startswith("word word")
    assert len(fake_discord.messages[first.id]["content"]) <= 2000
    assert fake_discord.messages[second.id]["message_reference"]["message_id"] == str(first.id)
    joined = fake_discord.messages[first.id]["content"] + fake_discord.messages[second.id]["content"]
    assert joined == "word " * 500


async def test_messages_no_longer_needed_are_deleted(fake_discord: FakeDiscord, clock: FakeClock) -> None:
    _, question = await posted(fake_discord)

    async def post(text: str, previous: discord.Message | None) -> discord.Message:
        return await (previous or question).reply(text, mention_author=False)

    async with Reply(post, clock, interval_s=1.0) as reply:
        await reply.show("word " * 500)
        first, second = reply.messages
        await reply.show("short now")
        assert reply.messages == [first]
        clock.advance(1.0)
    assert second.id not in fake_discord.messages
    assert fake_discord.messages[first.id]["content"] == "short now"
    assert not [r for r in fake_discord.requests if edits(r) and r.url.endswith(str(second.id))]
