"""Tool confirmations as a message with Approve/Deny buttons that only an owner can press.

The message shows the exact tool and arguments (the full JSON is attached when it is too long to show).
No answer before the timeout is a no, and so is a wait cancelled at any point, even mid-post. The
decision, and later the call's outcome, are edited into the same message, so the channel keeps a
record of every outbound action and no prompt is left with live buttons.
"""

import asyncio
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord

from assistant.discord_bot.clock import Clock
from assistant.discord_bot.refusal import REFUSALS, fields
from assistant.policy import ConfirmationRequest

log = logging.getLogger(__name__)

# Room left in a 2,000-character message for the arguments' JSON.
_MAX_SHOWN_JSON = 1400
_BACKTICKS = re.compile(r"`+")


def _fenced(text: str, language: str) -> str:
    """A code block that no run of backticks inside `text` can close early."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def arguments_json(arguments: Mapping[str, object]) -> str:
    return json.dumps(arguments, indent=2, ensure_ascii=False, sort_keys=True)


def describe(request: ConfirmationRequest) -> tuple[str, discord.File | None]:
    """The prompt's text, and the full arguments as a file when they do not fit in it."""
    shown = full = arguments_json(request.arguments)
    attachment = None
    if len(full) > _MAX_SHOWN_JSON:
        shown = full[:_MAX_SHOWN_JSON] + "\n… (cut; the full arguments are attached)"
        attachment = discord.File(io.BytesIO(full.encode()), filename="arguments.json")
    reason = request.reason[:200]
    text = f"🔐 **Run `{request.tool}`?** ({reason})\n{_fenced(shown, 'json')}"
    return text, attachment


class Approval(discord.ui.View):
    """Approve and Deny buttons; a press by anyone but an owner is refused and changes nothing."""

    def __init__(self, owners: frozenset[int], prompt: str) -> None:
        super().__init__(timeout=None)
        self._owners = owners
        self._prompt = prompt
        self.answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id in self._owners:
            return True
        log.info("discord.confirm_refused user=%s", interaction.user.id)
        await interaction.response.send_message("Only the owner can answer this.", ephemeral=True)
        return False

    @discord.ui.button(label="Approve", style=discord.ButtonStyle.success)
    async def approve(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        await self._decide(interaction, True, "✅ approved, running…")

    @discord.ui.button(label="Deny", style=discord.ButtonStyle.danger)
    async def deny(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        await self._decide(interaction, False, "❌ denied")

    async def _decide(self, interaction: discord.Interaction[Any], allowed: bool, note: str) -> None:
        if self.answer.done():
            await interaction.response.defer()
            return
        self.answer.set_result(allowed)
        self.stop()
        await interaction.response.edit_message(
            content=f"{self._prompt}\n{note}",
            view=None,
            allowed_mentions=discord.AllowedMentions.none(),
            suppress_embeds=True,
        )


# Posts a message in the conversation: (text, view, file) -> the message.
PostPrompt = Callable[[str, discord.ui.View, discord.File | None], Awaitable[discord.Message]]


class ButtonConfirm:
    """The agent's `Confirm` for one reply: asks in the conversation, remembers each prompt by call ID."""

    def __init__(self, post: PostPrompt, owners: frozenset[int], clock: Clock, timeout_s: float) -> None:
        self._post = post
        self._owners = owners
        self._clock = clock
        self._timeout_s = timeout_s
        self._prompts: dict[str, tuple[discord.Message, str]] = {}

    async def __call__(self, request: ConfirmationRequest) -> bool:
        text, attachment = describe(request)
        view = Approval(self._owners, text)
        # Shielded: Discord may post a prompt whose post was cancelled, so the post always runs to its end.
        posting = asyncio.ensure_future(self._post(text, view, attachment))
        try:
            message = await asyncio.shield(posting)
            async with asyncio.TaskGroup() as tasks:
                timer = tasks.create_task(self._expire(view))
                allowed = await view.answer
                timer.cancel()
        except asyncio.CancelledError:
            # The agent gave up (its own timeout, the turn cut short, shutdown), perhaps mid-post: once the
            # prompt is up, record the no and take its buttons away, then go on cancelling.
            view.stop()
            await asyncio.wait([posting])
            if not posting.cancelled() and posting.exception() is None:
                await asyncio.shield(self._note(posting.result(), f"{text}\n⏱️ no answer: denied"))
            raise
        if not timer.cancelled():
            await self._note(message, f"{text}\n⏱️ no answer in {self._timeout_s:g} s: denied")
        log.info("discord.confirm tool=%s allowed=%s", request.tool, allowed)
        if allowed:
            self._prompts[request.call_id] = (message, text)
        return allowed

    async def _expire(self, view: Approval) -> None:
        await self._clock.sleep(self._timeout_s)
        if not view.answer.done():
            view.answer.set_result(False)
            view.stop()

    async def finished(self, call_id: str, ok: bool, detail: str) -> None:
        """Edit the outcome of an approved call into its prompt; calls that needed no prompt are skipped."""
        prompt = self._prompts.pop(call_id, None)
        if prompt is None:
            return
        message, text = prompt
        outcome = "✅ done" if ok else f"⚠️ failed: {detail.splitlines()[0][:300] if detail else 'no detail'}"
        await self._note(message, f"{text}\n{outcome}")

    async def _note(self, message: discord.Message, content: str) -> None:
        """Edit the prompt's outcome in, and take its buttons away."""
        try:
            await message.edit(
                content=content, view=None, allowed_mentions=discord.AllowedMentions.none(), suppress=True
            )
        except REFUSALS as exc:
            log.warning("discord.confirm_edit_failed message=%s %s", message.id, fields(exc))
