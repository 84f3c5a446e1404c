"""Slash commands through discord.py's command tree: /tier and /status against a fake swapd control
API on a real loopback port, /reset and /tools against the bot's own state."""

from collections.abc import Iterator

import pytest
from discord_rig import Rig, rig
from fakes import openai_server as oa
from fakes import swapd_control_api as control_api
from fakes.discord_rest import Request
from fakes.openai_server import FakeOpenAI, serving
from fakes.swapd_control_api import FakeControl
from localhost import free_port

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI()) as fake:
        yield fake


@pytest.fixture
def control() -> Iterator[FakeControl]:
    with control_api.serving(FakeControl()) as fake:
        yield fake


def responses(request: Request) -> bool:
    return request.path.endswith("/callback")


def original_edits(request: Request) -> bool:
    return request.method == "PATCH" and request.path.endswith("/messages/@original")


async def answer_of(r: Rig, count: int = 1) -> str:
    """The content of the `count`-th response to an interaction."""
    answered = await r.discord.requests_where(responses, count)
    body = answered[count - 1].json
    assert body is not None
    return str(body["data"]["content"])


async def test_status_shows_tier_vram_queue_and_last_swap(
    llm_server: FakeOpenAI, control: FakeControl
) -> None:
    async with rig(llm_server.url, (control.url, control.admin_token)) as r:
        r.discord.command(r.owner, r.discord.dm(r.owner), "status")
        text = await answer_of(r)
    assert "**tier** balanced (ready); requests ask for `auto`" in text
    assert "**GPU 0** RTX 3060: 10,240 / 12,288 MiB, 87% busy" in text
    assert "**queue** 2 waiting; in flight: balanced 1" in text
    assert "**last swap** fast → balanced in 41.2 s (stop 2.0 s, load 37.5 s)" in text


async def test_tier_swaps_shows_progress_and_later_answers_ask_for_it(
    llm_server: FakeOpenAI, control: FakeControl
) -> None:
    control.swap_events = control_api.swap_to("deep")
    llm_server.replies.clear()
    llm_server.requests.clear()
    llm_server.script(oa.text("Deep answer."))
    async with rig(llm_server.url, (control.url, control.admin_token)) as r:
        dm = r.discord.dm(r.owner)
        r.discord.command(r.owner, dm, "tier", tier="deep")
        assert await answer_of(r) == "swapping to deep…"
        edits = await r.discord.requests_where(lambda q: original_edits(q) and "✅" in str(q.json))
        shown = [str(q.json["content"]) for q in r.discord.requests if original_edits(q) and q.json]
        assert control.swaps == [{"tier": "deep", "force": False}]
        assert edits[-1].json is not None
        assert edits[-1].json["content"] == "✅ deep is ready in 12.5 s"
        assert set(shown) <= {"loading deep… 40%", "loading deep… 100%", "✅ deep is ready in 12.5 s"}

        await r.bot.handle(r.discord.post(dm, r.owner, "think hard"))
        assert llm_server.requests[-1]["model"] == "deep"


async def test_a_failed_swap_is_reported_and_the_tier_stays(
    llm_server: FakeOpenAI, control: FakeControl
) -> None:
    control.swap_events = control_api.swap_to("deep", ok=False)
    async with rig(llm_server.url, (control.url, control.admin_token)) as r:
        r.discord.command(r.owner, r.discord.dm(r.owner), "tier", tier="deep")
        (edit,) = await r.discord.requests_where(lambda q: original_edits(q) and "⚠️" in str(q.json))
        assert edit.json is not None
        assert edit.json["content"] == "⚠️ the swap to deep failed: out of VRAM"
        assert r.bot._answerer is not None
        assert r.bot._answerer.tier == "auto"


async def test_a_wrong_admin_token_is_a_clear_reply(llm_server: FakeOpenAI, control: FakeControl) -> None:
    async with rig(llm_server.url, (control.url, "wrong-token")) as r:
        r.discord.command(r.owner, r.discord.dm(r.owner), "status")
        assert await answer_of(r) == "⚠️ swapd rejected the admin token (401): check llm.admin_token_file"


async def test_swapd_unreachable_is_a_clear_reply(llm_server: FakeOpenAI) -> None:
    async with rig(llm_server.url, (f"http://127.0.0.1:{free_port()}", "token")) as r:
        r.discord.command(r.owner, r.discord.dm(r.owner), "status")
        assert (await answer_of(r)).startswith("⚠️ cannot reach swapd's control API")


async def test_without_a_control_api_tier_only_changes_what_requests_ask_for(llm_server: FakeOpenAI) -> None:
    async with rig(llm_server.url) as r:
        r.discord.command(r.owner, r.discord.dm(r.owner), "tier", tier="fast")
        assert (await answer_of(r)).startswith("Requests now ask for `fast`")
        assert r.bot._answerer is not None
        assert r.bot._answerer.tier == "fast"


async def test_reset_starts_a_new_conversation(llm_server: FakeOpenAI) -> None:
    llm_server.replies.clear()
    llm_server.requests.clear()
    llm_server.script(oa.text("Hi Ada."), oa.text("I don't know."))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "I am Ada"))
        r.discord.command(r.owner, dm, "reset")
        assert (await answer_of(r)).startswith("🧹 New conversation")
        await r.bot.handle(r.discord.post(dm, r.owner, "who am I?"))
        assert [m["content"] for m in llm_server.requests[-1]["messages"][1:]] == ["who am I?"]


async def test_tools_lists_each_tool_with_its_policy(llm_server: FakeOpenAI) -> None:
    async with rig(llm_server.url) as r:
        r.discord.command(r.owner, r.discord.dm(r.owner), "tools")
        text = await answer_of(r)
    assert "`desk__lookup` **allow**" in text
    assert "`desk__send` **confirm**" in text


async def test_strangers_cannot_use_commands(llm_server: FakeOpenAI, control: FakeControl) -> None:
    async with rig(llm_server.url, (control.url, control.admin_token)) as r:
        stranger = r.discord.user_payload("mallory")
        r.discord.command(stranger, r.discord.dm(stranger), "tier", tier="deep")
        (refusal,) = await r.discord.requests_where(responses)
        assert refusal.json is not None
        assert refusal.json["data"]["flags"] == 64
        assert control.swaps == []
