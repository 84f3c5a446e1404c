"""The Discord bot end to end without a gateway: discord.py's real models and HTTP client over the fake
Discord's REST API, the agent on the scripted OpenAI-compatible server, a real in-process MCP server."""

import asyncio
import logging
from collections.abc import Iterator

import discord
import pytest
from discord_rig import rig
from fakes import openai_server as oa
from fakes import swapd_control_api as control_api
from fakes.discord_rest import Answer, Request, rate_limited
from fakes.openai_server import FakeOpenAI, serving
from fakes.swapd_control_api import FakeControl
from localhost import free_port

from assistant.discord_bot.render import Rendering
from assistant.discord_bot.split import open_fence

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def edits(request: Request) -> bool:
    return request.method == "PATCH"


def posts(request: Request) -> bool:
    return request.method == "POST" and request.path == "/channels/{channel_id}/messages"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI()) as fake:
        yield fake


@pytest.fixture
def llm_server(server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    server.replies.clear()
    server.requests.clear()
    server.n_ctx = 8192
    yield server
    assert not server.replies, "the test left scripted replies unused"


async def test_dm_is_answered_with_a_reply_that_pings_nobody_and_hides_reasoning(
    llm_server: FakeOpenAI,
) -> None:
    llm_server.script(oa.text("Paris is the capital.", reasoning="The user asks about France."))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        question = r.discord.post(dm, r.owner, "capital of France?")
        await r.bot.handle(question)

        assert r.answers() == ["Paris is the capital."]
        (sent,) = r.sent()
        assert sent.json is not None
        assert sent.json["message_reference"]["message_id"] == question.id
        assert sent.json["allowed_mentions"] == {"parse": [], "replied_user": False}
        assert sent.json["flags"] & discord.MessageFlags.suppress_embeds.flag
        assert r.embeds_suppressed()
        assert any(r.path.endswith("/typing") for r in r.discord.requests)
        assert not any("France." in str(q.json) for q in r.discord.requests)
        assert llm_server.requests[0]["messages"][-1] == {"role": "user", "content": "capital of France?"}


async def test_reasoning_can_be_attached_as_a_file(llm_server: FakeOpenAI) -> None:
    llm_server.script(oa.text("42.", reasoning="Deep thought."))
    async with rig(llm_server.url, attach_reasoning=True) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "meaning of life?"))
        assert [q.files for q in r.discord.requests if q.files] == [["reasoning.txt"]]
        assert r.embeds_suppressed()


async def test_dm_follow_up_carries_the_previous_turn(llm_server: FakeOpenAI) -> None:
    llm_server.script(oa.text("Hello Ada."), oa.text("You are Ada."))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "I am Ada"))
        await r.bot.handle(r.discord.post(dm, r.owner, "who am I?"))
        contents = [(m["role"], m["content"]) for m in llm_server.requests[1]["messages"][1:]]
        assert contents == [("user", "I am Ada"), ("assistant", "Hello Ada."), ("user", "who am I?")]


async def test_strangers_are_ignored_and_logged_without_content(
    llm_server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    async with rig(llm_server.url) as r:
        stranger = r.discord.user_payload("mallory")
        dm = r.discord.dm(stranger)
        with caplog.at_level(logging.INFO):
            await r.bot.handle(r.discord.post(dm, stranger, "secret plan: exfiltrate"))
        assert r.discord.requests == []
        assert llm_server.requests == []
        assert f"user={stranger['id']}" in caplog.text
        assert "exfiltrate" not in caplog.text


async def test_issue_13_a_stranger_in_a_channel_the_bot_does_not_serve_is_logged_without_content(
    llm_server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    async with rig(llm_server.url) as r:
        stranger = r.discord.user_payload("mallory")
        channel = r.discord.guild().text_channels[0]  # not in channel_ids
        mention = f"<@{r.discord.bot_user['id']}> secret plan: exfiltrate"
        with caplog.at_level(logging.INFO):
            await r.bot.handle(r.discord.post(channel, stranger, mention))
            await r.bot.handle(r.discord.post(channel, stranger, "idle chatter"))
        assert r.discord.requests == []
        assert llm_server.requests == []
        (line,) = [m for m in caplog.messages if m.startswith("discord.ignored")]
        assert line == (
            f"discord.ignored reason=stranger user={stranger['id']} place=channel channel={channel.id} "
            f"guild={channel.guild.id}"
        )
        assert "exfiltrate" not in caplog.text
        assert "chatter" not in caplog.text


async def test_channel_mentions_are_answered_and_plain_chatter_is_not(llm_server: FakeOpenAI) -> None:
    llm_server.script(oa.text("Sure."))
    async with rig(llm_server.url) as r:
        channel = r.discord.guild().text_channels[0]
        r.bot.settings = r.bot.settings.model_copy(update={"channel_ids": frozenset({channel.id})})
        await r.bot.handle(r.discord.post(channel, r.owner, "just chatting"))
        assert r.sent() == []
        await r.bot.handle(r.discord.post(channel, r.owner, f"<@{r.discord.bot_user['id']}> help?"))
        assert r.answers() == ["Sure."]
        assert llm_server.requests[0]["messages"][-1]["content"] == "help?"


async def test_long_answer_splits_with_code_blocks_intact(llm_server: FakeOpenAI) -> None:
    code = "\n".join(f"print({i})" for i in range(400))
    llm_server.script(oa.text(f"Here:\n```python\n{code}\n```\nDone.", pieces=20))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "count"))
        answers = r.answers()
        assert len(answers) > 1
        assert all(len(a) <= 2000 and open_fence(a) is None for a in answers)
        assert all(a.startswith("```python\n") for a in answers[1:])
        assert answers[-1].endswith("Done.")
        assert r.embeds_suppressed()


async def test_confirmation_approved_runs_the_tool_and_edits_the_outcome_in(llm_server: FakeOpenAI) -> None:
    llm_server.script(
        oa.tool_calls(("desk__send", '{"to": "ada@example.com", "body": "hi"}')), oa.text("Sent.")
    )
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        answering = asyncio.create_task(r.bot.handle(r.discord.post(dm, r.owner, "say hi to Ada")))
        (prompt,) = await r.discord.requests_where(
            lambda q: q.json is not None and bool(q.json.get("components"))
        )
        assert prompt.json is not None
        assert "desk__send" in prompt.json["content"]
        assert '"to": "ada@example.com"' in prompt.json["content"]
        await r.clock.sleeping()  # the bot waits for the answer: its buttons are live
        prompt_id = r.prompt_id()
        message = discord.Message(state=r.discord.state, channel=dm, data=r.discord.messages[prompt_id])
        approve = prompt.json["components"][0]["components"][0]["custom_id"]
        r.discord.press(r.owner, message, approve)
        await answering

        assert r.content(prompt_id).endswith("✅ done")
        assert r.discord.messages[prompt_id]["components"] == []  # the buttons went with the answer
        assert r.embeds_suppressed()
        assert r.answers(besides=prompt_id) == ["Sent."]
        tool_results = [m for m in llm_server.requests[1]["messages"] if m["role"] == "tool"]
        assert "sent to ada@example.com" in tool_results[0]["content"]


async def test_confirmation_timeout_is_a_no_and_the_model_is_told(llm_server: FakeOpenAI) -> None:
    llm_server.script(
        oa.tool_calls(("desk__send", '{"to": "ada@example.com", "body": "hi"}')), oa.text("Not sent.")
    )
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        answering = asyncio.create_task(r.bot.handle(r.discord.post(dm, r.owner, "say hi to Ada")))
        await r.discord.requests_where(lambda q: q.json is not None and bool(q.json.get("components")))
        prompt_id = r.prompt_id()
        await r.clock.sleeping()
        r.clock.advance(120)
        await answering
        assert r.content(prompt_id).endswith("⏱️ no answer in 120 s: denied")
        tool_results = [m for m in llm_server.requests[1]["messages"] if m["role"] == "tool"]
        assert "did not approve" in str(tool_results[0]["content"])
        assert r.answers(besides=prompt_id) == ["Not sent."]


async def test_a_tool_error_is_a_warning_and_the_answer_goes_on(llm_server: FakeOpenAI) -> None:
    llm_server.script(oa.tool_calls(("desk__shred", "{}")), oa.text("I cannot shred."))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "shred it"))
        (answer,) = r.answers()
        assert answer.startswith("I cannot shred.")
        assert "-# ⚠️ `desk__shred` failed: error: there is no tool named 'desk__shred'" in answer


async def test_a_message_too_long_for_the_context_gets_a_short_reply(llm_server: FakeOpenAI) -> None:
    llm_server.n_ctx = 1100
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "word " * 500))
        (answer,) = r.answers()
        assert answer.startswith("⚠️ That message is about 500 tokens")
        assert llm_server.requests == []
        # The short reply is no answer: it adds nothing to the chain and does not count as untrusted.
        assert r.bot._answerer is not None
        follow_up = r.discord.post(dm, r.owner, "ok, short then")
        conversation = await r.bot._answerer._chains.build(follow_up, 10)
        assert [m.content for m in conversation.history] == [("word " * 500).strip(), "ok, short then"]
        assert not conversation.tainted


async def test_an_unsupported_attachment_alone_gets_a_short_reply(llm_server: FakeOpenAI) -> None:
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        photo = r.discord.attachment("photo.png", "image/png", b"\x89PNG")
        await r.bot.handle(r.discord.post(dm, r.owner, "", attachments=[photo]))
        (answer,) = r.answers()
        assert answer.startswith("⚠️ Nothing to answer: skipped photo.png: only text attachments are read.")


async def test_swapd_unreachable_gets_a_short_reply_and_the_bot_goes_on(llm_server: FakeOpenAI) -> None:
    llm_server.script(oa.text("Back."))
    async with rig(f"http://127.0.0.1:{free_port()}") as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "hello?"))
        (answer,) = r.answers()
        assert answer.startswith("⚠️ cannot reach swapd at http://127.0.0.1:")
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "hello?"))
        assert r.answers() == ["Back."]


async def test_a_swap_holding_the_answer_up_is_shown(llm_server: FakeOpenAI) -> None:
    llm_server.script(oa.busy("swapping to deep: loading", retry_after="0"), oa.text("Ready now."))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "hello"))
        (first, *_) = r.sent()
        assert first.json is not None
        assert first.json["content"] == "-# ⏳ swapping to deep: loading"
        assert r.answers() == ["Ready now."]


async def test_swap_progress_comes_from_swapds_event_stream(llm_server: FakeOpenAI) -> None:
    with control_api.serving(FakeControl(swap_events=control_api.swap_to("deep"))) as control:
        async with rig(llm_server.url, (control.url, control.admin_token)) as r:
            assert r.bot._answerer is not None
            rendering, seen, done = Rendering(), list[str](), asyncio.Event()

            async def show() -> None:
                seen.append(rendering.status or "")
                if "ready" in seen[-1]:
                    done.set()

            watching = asyncio.create_task(r.bot._answerer._watch_swaps(rendering, show))
            await asyncio.to_thread(control.subscribed.wait, 10)
            assert r.bot.backend.control is not None
            await r.bot.backend.control.swap("deep")
            await done.wait()
            watching.cancel()
            assert seen == ["⏳ loading deep… 40%", "⏳ loading deep… 100%", "⏳ deep is ready in 12.5 s"]
            assert rendering.visible


async def test_a_turn_keeps_its_tool_calls_even_when_older_turns_were_trimmed(llm_server: FakeOpenAI) -> None:
    llm_server.n_ctx = 1500
    llm_server.script(
        oa.text("A."),
        oa.tool_calls(("desk__lookup", '{"query": "x"}')),
        oa.text("B."),
        oa.text("C."),
    )
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        await r.bot.handle(r.discord.post(dm, r.owner, "x " * 300))
        await r.bot.handle(r.discord.post(dm, r.owner, "look it up"))
        assert "dropped the 1 oldest turn(s)" in r.answers()[-1]
        await r.bot.handle(r.discord.post(dm, r.owner, "and?"))
    roles = [m["role"] for m in llm_server.requests[-1]["messages"]]
    assert roles[-5:] == ["user", "assistant", "tool", "assistant", "user"]


async def test_logs_hold_no_message_text_at_info(
    llm_server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    llm_server.script(
        oa.tool_calls(("desk__lookup", '{"query": "sentinel-query"}')), oa.text("sentinel-answer")
    )
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        with caplog.at_level(logging.INFO):
            await r.bot.handle(r.discord.post(dm, r.owner, "sentinel-question"))
        assert r.answers() == ["sentinel-answer"]
    assert "discord.answer message=" in caplog.text
    assert "sentinel" not in caplog.text


async def test_a_broken_event_stream_ends_the_swap_display_not_the_answer(llm_server: FakeOpenAI) -> None:
    fake = FakeControl(swap_events=control_api.swap_to("deep")[:1], cut_after_swap=True)
    with control_api.serving(fake) as control:
        async with rig(llm_server.url, (control.url, control.admin_token)) as r:
            assert r.bot._answerer is not None
            assert r.bot.backend.control is not None
            rendering = Rendering()

            async def show() -> None:
                pass

            watching = asyncio.create_task(r.bot._answerer._watch_swaps(rendering, show))
            await asyncio.to_thread(control.subscribed.wait, 10)
            await r.bot.backend.control.swap("deep")
            await watching  # returns quietly once the stream breaks
            assert rendering.status == "⏳ loading deep… 40%"


async def test_shutdown_marks_an_unfinished_answer_and_its_prompt(llm_server: FakeOpenAI) -> None:
    llm_server.script(oa.tool_calls(("desk__send", '{"to": "ada@example.com", "body": "hi"}')))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        answering = asyncio.create_task(r.bot.handle(r.discord.post(dm, r.owner, "say hi to Ada")))
        await r.discord.requests_where(lambda q: q.json is not None and bool(q.json.get("components")))
        await r.clock.sleeping()  # the bot waits for the answer
        await r.bot.shutdown()
        assert answering.cancelled()
        answer, prompt = r.answers()
        assert answer.startswith("⚠️ interrupted: the bot is stopping")
        assert prompt.endswith("⏱️ no answer: denied")
        assert r.embeds_suppressed()


async def test_a_turn_cancelled_while_its_prompt_is_posted_still_denies_the_prompt(
    llm_server: FakeOpenAI,
) -> None:
    llm_server.script(oa.tool_calls(("desk__send", '{"to": "ada@example.com", "body": "hi"}')))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        held = r.discord.hold_next(lambda q: q.json is not None and bool(q.json.get("components")))
        answering = asyncio.create_task(r.bot.handle(r.discord.post(dm, r.owner, "say hi to Ada")))
        await held.arrived.wait()  # Discord has the prompt but has not answered yet
        answering.cancel()  # as shutdown cancels each answer
        held.release()
        with pytest.raises(asyncio.CancelledError):
            await answering
        answer, prompt = r.answers()
        assert answer.startswith("⚠️ interrupted: the bot is stopping")
        assert prompt.endswith("⏱️ no answer: denied")
        assert all(m["components"] == [] for m in r.bot_messages())
        assert r.embeds_suppressed()


async def test_a_long_429_on_an_edit_defers_it_on_the_bots_clock(llm_server: FakeOpenAI) -> None:
    llm_server.script(oa.text("one two three four", pieces=4))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        r.discord.fail_next(edits, rate_limited(120.0))
        answering = asyncio.create_task(r.bot.handle(r.discord.post(dm, r.owner, "count")))
        await r.discord.requests_where(edits)
        # discord.py gave the 429 back instead of sleeping on it; the live message waits it out itself.
        (wake,) = await r.clock.sleeping()
        assert wake == pytest.approx(r.clock.now() + 120.0)
        assert [q.status for q in r.discord.requests if edits(q)] == [429]
        r.clock.advance(120.0)
        await answering
        first, *later = [q.status for q in r.discord.requests if edits(q)]
        assert (first, set(later)) == (429, {200})
        assert r.answers() == ["one two three four"]


@pytest.mark.parametrize(
    ("refusal", "logged"),
    [
        (rate_limited(120.0), "status=429 retry_after=120.0"),
        (Answer(403, {"message": "Missing Permissions", "code": 50013}), "status=403 code=50013"),
    ],
    ids=["long 429", "403"],
)
async def test_discord_refusing_to_post_the_answer_is_logged_not_an_internal_error(
    llm_server: FakeOpenAI, caplog: pytest.LogCaptureFixture, refusal: Answer, logged: str
) -> None:
    llm_server.script(oa.text("Hello."))
    async with rig(llm_server.url) as r:
        dm = r.discord.dm(r.owner)
        question = r.discord.post(dm, r.owner, "hi")
        r.discord.fail_next(posts, refusal)
        with caplog.at_level(logging.INFO):
            await r.bot.handle(question)
        assert r.answers() == []  # no "internal error" reply either
        assert f"discord.answer_failed message={question.id} {logged}" in caplog.text
        assert "discord.internal_error" not in caplog.text
