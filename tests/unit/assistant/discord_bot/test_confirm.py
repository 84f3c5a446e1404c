"""Confirmation buttons: the exact call shown, only owners can answer, approve, deny, timeout is a no."""

import asyncio

import discord
import pytest
from fakes.discord_gateway import FakeClock, FakeDiscord
from fakes.discord_rest import Answer, Request, rate_limited

from assistant.discord_bot.confirm import ButtonConfirm, describe
from assistant.policy import ConfirmationRequest

pytestmark = pytest.mark.anyio

REQUEST = ConfirmationRequest(
    call_id="call_1",
    tool="gmail__send",
    arguments={"to": "ada@example.com", "body": "Hi ```quoted``` <@&1234> @everyone"},
    reason="the tool can change things or reach outside",
)


def posts(request: Request) -> bool:
    return request.method == "POST" and request.path.endswith("/messages")


def callbacks(request: Request) -> bool:
    return request.path.endswith("/callback")


def edits(request: Request) -> bool:
    return request.method == "PATCH"


async def asking(
    fake: FakeDiscord, clock: FakeClock, timeout_s: float = 120.0
) -> tuple[ButtonConfirm, "asyncio.Task[bool]", discord.Message, dict[str, object]]:
    owner = fake.user_payload("owner")
    dm = fake.dm(owner)

    async def post(text: str, view: discord.ui.View, file: discord.File | None) -> discord.Message:
        if file is None:
            return await dm.send(text, view=view, allowed_mentions=discord.AllowedMentions.none())
        return await dm.send(text, view=view, file=file, allowed_mentions=discord.AllowedMentions.none())

    confirm = ButtonConfirm(post, frozenset({int(str(owner["id"]))}), clock, timeout_s)
    task = asyncio.create_task(confirm(REQUEST))
    (sent,) = await fake.requests_where(lambda r: r.method == "POST" and r.path.endswith("/messages"))
    prompt = fake.messages[max(fake.messages)]
    message = discord.Message(state=fake.state, channel=dm, data=prompt)  # type: ignore[arg-type]
    await clock.sleeping()
    assert sent.json is not None
    return confirm, task, message, owner


def button_ids(fake: FakeDiscord) -> list[str]:
    (sent,) = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert sent.json is not None
    return [button["custom_id"] for row in sent.json["components"] for button in row["components"]]


async def test_prompt_shows_the_exact_tool_and_arguments_without_pinging(
    fake_discord: FakeDiscord, clock: FakeClock
) -> None:
    _, task, message, _ = await asking(fake_discord, clock)
    assert "gmail__send" in message.content
    assert '"to": "ada@example.com"' in message.content
    assert "Hi ```quoted``` <@&1234> @everyone" in message.content
    assert message.content.count("````") == 2
    (sent,) = [r for r in fake_discord.requests if r.method == "POST"]
    assert sent.json is not None
    assert sent.json["allowed_mentions"] == {"parse": []}
    assert [b["label"] for row in sent.json["components"] for b in row["components"]] == ["Approve", "Deny"]
    task.cancel()


async def test_owner_approves_and_the_outcome_is_edited_in(
    fake_discord: FakeDiscord, clock: FakeClock
) -> None:
    confirm, task, message, owner = await asking(fake_discord, clock)
    approve, _ = button_ids(fake_discord)
    fake_discord.press(owner, message, approve)
    assert await task is True
    (answer,) = await fake_discord.requests_where(callbacks)
    assert answer.json is not None
    assert answer.json["type"] == 7  # UPDATE_MESSAGE: the prompt itself is edited
    assert answer.json["data"]["content"].endswith("✅ approved, running…")
    assert answer.json["data"]["components"] == []

    await confirm.finished("call_1", ok=False, detail="error: mail server said no\nmore")
    (edit,) = await fake_discord.requests_where(edits)
    assert edit.json is not None
    assert edit.json["content"].endswith("⚠️ failed: error: mail server said no")


async def test_owner_denies(fake_discord: FakeDiscord, clock: FakeClock) -> None:
    confirm, task, message, owner = await asking(fake_discord, clock)
    _, deny = button_ids(fake_discord)
    fake_discord.press(owner, message, deny)
    assert await task is False
    (answer,) = await fake_discord.requests_where(callbacks)
    assert answer.json is not None
    assert answer.json["data"]["content"].endswith("❌ denied")
    await confirm.finished("call_1", ok=False, detail="denied")
    assert not [r for r in fake_discord.requests if edits(r)]


async def test_someone_else_cannot_press(fake_discord: FakeDiscord, clock: FakeClock) -> None:
    _, task, message, owner = await asking(fake_discord, clock)
    approve, deny = button_ids(fake_discord)
    fake_discord.press(fake_discord.user_payload("mallory"), message, approve)
    (refusal,) = await fake_discord.requests_where(callbacks)
    assert refusal.json is not None
    assert refusal.json["data"]["flags"] == 64  # ephemeral
    assert not task.done()
    fake_discord.press(owner, message, deny)
    assert await task is False


async def test_no_answer_before_the_timeout_is_a_no(fake_discord: FakeDiscord, clock: FakeClock) -> None:
    _, task, _, _ = await asking(fake_discord, clock, timeout_s=30)
    clock.advance(30)
    assert await task is False
    (edit,) = await fake_discord.requests_where(edits)
    assert edit.json is not None
    assert edit.json["content"].endswith("⏱️ no answer in 30 s: denied")
    assert edit.json["components"] == []


async def test_a_cancelled_wait_records_the_no(fake_discord: FakeDiscord, clock: FakeClock) -> None:
    _, task, _, _ = await asking(fake_discord, clock)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (edit,) = await fake_discord.requests_where(edits)
    assert edit.json is not None
    assert edit.json["content"].endswith("⏱️ no answer: denied")


async def cancelled_mid_post(fake: FakeDiscord, clock: FakeClock) -> None:
    """Ask, and cancel the wait while Discord holds the prompt's post unanswered; it must stay cancelled."""
    owner = fake.user_payload("owner")
    dm = fake.dm(owner)

    async def post(text: str, view: discord.ui.View, file: discord.File | None) -> discord.Message:
        return await dm.send(text, view=view, allowed_mentions=discord.AllowedMentions.none())

    confirm = ButtonConfirm(post, frozenset({int(str(owner["id"]))}), clock, 120.0)
    held = fake.hold_next(posts)
    task = asyncio.create_task(confirm(REQUEST))
    await held.arrived.wait()
    task.cancel()
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.requests_where(posts)


async def test_a_wait_cancelled_while_the_prompt_is_posted_still_denies_it(
    fake_discord: FakeDiscord, clock: FakeClock
) -> None:
    await cancelled_mid_post(fake_discord, clock)
    (prompt,) = fake_discord.messages.values()
    assert prompt["content"].endswith("⏱️ no answer: denied")
    assert prompt["components"] == []


async def test_a_wait_cancelled_while_discord_refuses_the_prompt_stays_cancelled(
    fake_discord: FakeDiscord, clock: FakeClock
) -> None:
    fake_discord.fail_next(posts, Answer(403, {"message": "Missing Permissions", "code": 50013}))
    await cancelled_mid_post(fake_discord, clock)
    assert fake_discord.messages == {}
    assert not [r for r in fake_discord.requests if edits(r)]


async def test_a_long_429_on_the_denied_note_does_not_end_the_cancellation(
    fake_discord: FakeDiscord, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    _, task, message, _ = await asking(fake_discord, clock)
    fake_discord.fail_next(edits, rate_limited(120.0))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (edit,) = await fake_discord.requests_where(edits)
    assert edit.status == 429
    assert f"discord.confirm_edit_failed message={message.id} status=429 retry_after=120.0" in caplog.text


def test_long_arguments_are_attached_in_full() -> None:
    request = ConfirmationRequest("c", "gmail__send", {"body": "x" * 5000}, "outbound")
    text, attachment = describe(request)
    assert len(text) < 2000
    assert attachment is not None
    assert attachment.filename == "arguments.json"
