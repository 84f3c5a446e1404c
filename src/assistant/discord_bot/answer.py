"""One answer: rebuild the conversation from Discord, run the agent on it, and show its events.

Answers in one channel run one at a time (a DM or a thread is one conversation). The bot's messages
stay locked in the chain cache until the answer is final, so a reply to a half-written answer waits
for it. While the model has produced nothing to show, the typing indicator runs; a swap in progress
is shown from swapd's event stream when the control API is configured.
"""

import asyncio
import io
import logging
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import discord

from assistant.agent import Agent, ToolCallFinished
from assistant.config import ChatSettings
from assistant.discord_bot.chain import Chains, Node, NodeCache
from assistant.discord_bot.clock import Clock
from assistant.discord_bot.confirm import ButtonConfirm
from assistant.discord_bot.refusal import REFUSALS, fields
from assistant.discord_bot.render import Rendering, swap_line
from assistant.discord_bot.settings import DiscordSettings
from assistant.discord_bot.stream import Reply
from assistant.errors import SwapdControlError, UpstreamError
from assistant.llm import LlmClient
from assistant.mcp_client import ToolServers
from assistant.policy import Policy
from assistant.swapd_control import SwapdControl, TierState

log = logging.getLogger(__name__)

ShowFn = Callable[[], Awaitable[None]]

NO_MENTIONS = discord.AllowedMentions.none()
# swapd states that mean a swap is under way.
_SWAPPING = frozenset({"starting", "draining", "stopping"})


@dataclass(frozen=True)
class Backend:
    """What answers need from the assistant core: the same pieces `assistant chat` runs on."""

    llm: LlmClient
    tools: ToolServers
    policy: Policy
    chat: ChatSettings
    confirm_timeout_s: float
    control: SwapdControl | None


class Answerer:
    """Answers messages the access check let through."""

    def __init__(self, settings: DiscordSettings, backend: Backend, chains: Chains, clock: Clock) -> None:
        self._settings = settings
        self._backend = backend
        self._chains = chains
        self._clock = clock
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        # The tier each request asks for: `auto` (the active one) until /tier picks one.
        self.tier = "auto"

    async def answer(self, message: discord.Message) -> None:
        lock = self._locks.get(message.channel.id)
        if lock is None:
            lock = self._locks[message.channel.id] = asyncio.Lock()
        async with lock:
            try:
                await self._answer(message)
            except BaseExceptionGroup as group:
                # The edit tasks and the swap watcher keep their own errors, so a group carries the one
                # error of the answer itself, wrapped by each task group it left: let it leave as itself,
                # so the bot can tell Discord refusing a post from a bug.
                sole = _sole(group)
                if sole is None:
                    raise
                raise sole from sole.__cause__

    async def _answer(self, message: discord.Message) -> None:
        conversation = await self._chains.build(message, self._settings.max_messages)
        history = conversation.history
        if not history or history[-1].role != "user":
            reasons = "; ".join(conversation.warnings) or "the message has no text"
            await self.say(message, f"⚠️ Nothing to answer: {reasons}. Send text, or a text file.")
            return
        *earlier, last = history
        if (too_long := await self._too_long(last.content)) is not None:
            await self.say(message, too_long)
            return
        rendering = Rendering(warnings=list(conversation.warnings))
        async with AsyncExitStack() as held:
            posting = _Posting(message, self._chains.cache, held)
            await posting.start_typing()
            held.push_async_callback(posting.stop_typing)
            backend = self._backend
            confirm = ButtonConfirm(
                posting.prompt, self._settings.owner_ids, self._clock, backend.confirm_timeout_s
            )
            agent = Agent(backend.llm, backend.tools, backend.policy, confirm, backend.chat, self.tier)
            agent.resume(earlier, tainted=conversation.tainted)
            reply = Reply(posting.answer, self._clock, self._settings.edit_interval_s)
            try:
                async with reply:
                    shown = asyncio.Lock()

                    async def show() -> None:
                        if rendering.visible:
                            async with shown:
                                await reply.show(rendering.show())

                    async with asyncio.TaskGroup() as tasks:
                        watcher = tasks.create_task(self._watch_swaps(rendering, show))
                        async for event in agent.run(last.content):
                            rendering.apply(event)
                            if isinstance(event, ToolCallFinished):
                                await confirm.finished(event.call_id, event.ok, event.output)
                            await show()
                        watcher.cancel()
                    await show()
            except asyncio.CancelledError:
                # Shutdown: say so in what was posted, then go on being cancelled.
                rendering.interrupt("interrupted: the bot is stopping; ask again once it is back")
                await asyncio.shield(reply.settle(rendering.show()))
                raise
            await posting.stop_typing()
            # What this turn added after its user message (the agent may have trimmed older turns).
            added = agent.history
            start = max(i for i, m in enumerate(added) if m.role == "user")
            turn = added[start + 1 :]
            for node in posting.written:
                node.text, node.turn, node.tainted = rendering.text, turn, agent.tainted
        if rendering.reasoning.strip() and self._settings.attach_reasoning and reply.messages:
            await self._attach_reasoning(reply.messages[-1], rendering.reasoning)

    async def _watch_swaps(self, rendering: Rendering, show: ShowFn) -> None:
        """Show a swap that holds this answer up, from swapd's events, until text arrives."""
        control = self._backend.control
        if control is None:
            return
        try:
            async for event in control.events():
                if isinstance(event, TierState) and event.state not in _SWAPPING:
                    continue
                rendering.swap(swap_line(event))
                # Cancelling the watcher must not cut a post short; the final show waits for this one.
                await asyncio.shield(show())
        except SwapdControlError as exc:
            log.info("discord.swap_events_unavailable error=%s", exc)

    async def _too_long(self, text: str) -> str | None:
        """A short reply when one message alone cannot fit the context; None when it fits or is unknown."""
        llm, chat = self._backend.llm, self._backend.chat
        try:
            n_ctx = await llm.context_size(self.tier)
            if n_ctx is None:
                return None
            tokens = await llm.count_tokens(text, self.tier)
        except UpstreamError:
            return None  # the agent reports swapd being unreachable in its own words
        room = n_ctx - chat.reply_reserve_tokens
        if tokens <= room:
            return None
        return (
            f"⚠️ That message is about {tokens} tokens, but the model's context holds {room} "
            "besides the reply. Shorten it or send less text."
        )

    async def say(self, message: discord.Message, text: str) -> None:
        """A one-line reply that is not an answer: in the chain it is empty and leads back to `message`."""
        sent = await message.reply(
            text, mention_author=False, allowed_mentions=NO_MENTIONS, suppress_embeds=True
        )
        async with self._chains.cache.writing(sent, message):
            pass

    async def _attach_reasoning(self, last: discord.Message, reasoning: str) -> None:
        file = discord.File(io.BytesIO(reasoning.encode()), filename="reasoning.txt")
        try:
            await last.edit(attachments=[file], allowed_mentions=NO_MENTIONS, suppress=True)
        except REFUSALS as exc:
            log.warning("discord.reasoning_attach_failed message=%s %s", last.id, fields(exc))


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested single-member groups; None when there are several."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return None if isinstance(inner, BaseExceptionGroup) else inner


class _Posting:
    """Posts an answer's messages and prompts as replies, each locked in the chain cache until the end."""

    def __init__(self, message: discord.Message, cache: NodeCache, held: AsyncExitStack) -> None:
        self._message = message
        self._cache = cache
        self._held = held
        self._typing = AsyncExitStack()
        self.written: list[Node] = []
        self._last: discord.Message | None = None

    async def start_typing(self) -> None:
        await self._typing.enter_async_context(self._message.channel.typing())

    async def stop_typing(self) -> None:
        await self._typing.aclose()

    async def answer(self, text: str, previous: discord.Message | None) -> discord.Message:
        """Post a part of the answer; the typing indicator stops once there is something to read."""
        await self.stop_typing()
        sent = await (previous or self._message).reply(
            text, mention_author=False, allowed_mentions=NO_MENTIONS, suppress_embeds=True
        )
        self.written.append(await self._held.enter_async_context(self._cache.writing(sent, self._message)))
        self._last = sent
        return sent

    async def prompt(self, text: str, view: discord.ui.View, file: discord.File | None) -> discord.Message:
        """Post a confirmation prompt; in the chain it is empty and leads back to the answer."""
        sent = await self._message.reply(
            text,
            view=view,
            files=[file] if file is not None else [],
            mention_author=False,
            allowed_mentions=NO_MENTIONS,
            suppress_embeds=True,
        )
        await self._held.enter_async_context(self._cache.writing(sent, self._last or self._message))
        return sent
