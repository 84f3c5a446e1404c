"""Show a growing answer in Discord: edits spaced per message, backing off on 429, split into messages.

Each posted message has its own `LiveMessage`, so one slow or rate-limited message never holds back
another (llmcord spaces edits globally). Text set while an edit waits is coalesced: only the newest
text is sent.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import discord

from assistant.discord_bot.clock import Clock
from assistant.discord_bot.refusal import REFUSALS, fields
from assistant.discord_bot.split import DISCORD_LIMIT, split

log = logging.getLogger(__name__)

# Discord forbids empty messages; a chunk of only whitespace is shown as this.
_BLANK = "\u200b"
# Backoff when a 429 carries no usable Retry-After.
_DEFAULT_BACKOFF_S = 2.0


def _retry_after(exc: discord.HTTPException) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    try:
        return max(0.0, float(headers.get("Retry-After", _DEFAULT_BACKOFF_S)))
    except ValueError:
        return _DEFAULT_BACKOFF_S


async def edit_text(message: discord.Message, text: str) -> None:
    """Replace a bot message's text, pinging nobody and keeping link embeds suppressed.

    `Message.edit` sends `suppress_embeds=False` unless told otherwise, which would bring link previews
    back on every edit; an interaction's message keeps the flags it was sent with.
    """
    if isinstance(message, discord.InteractionMessage):
        await message.edit(content=text, allowed_mentions=discord.AllowedMentions.none())
    else:
        await message.edit(content=text, allowed_mentions=discord.AllowedMentions.none(), suppress=True)


class LiveMessage:
    """One posted message kept in step with the newest text, at most one edit per interval."""

    def __init__(self, message: discord.Message, clock: Clock, interval_s: float) -> None:
        self.message = message
        self._clock = clock
        self._interval_s = interval_s
        self._shown = message.content
        self._wanted = message.content
        self._changed = asyncio.Event()
        self._closing = False
        # Posting the message counts as its first edit.
        self._next_at = clock.now() + interval_s

    @property
    def shown(self) -> str:
        """The text Discord has now."""
        return self._shown

    def show(self, text: str) -> None:
        """Ask for `text` to be shown; returns at once, the edit happens when allowed."""
        self._wanted = text or _BLANK
        self._changed.set()

    def drop(self) -> None:
        """Stop editing at once: the message is about to be deleted."""
        self._wanted = self._shown
        self.close()

    def close(self) -> None:
        """Finish after the newest text is shown."""
        self._closing = True
        self._changed.set()

    async def run(self) -> None:
        """Apply edits until closed and up to date."""
        while True:
            await self._changed.wait()
            delay = self._next_at - self._clock.now()
            if delay > 0:
                await self._clock.sleep(delay)
            self._changed.clear()
            text = self._wanted
            if text != self._shown:
                await self._edit(text)
            if self._closing and self._shown == self._wanted:
                return

    async def _edit(self, text: str) -> None:
        try:
            await edit_text(self.message, text)
        except discord.RateLimited as exc:
            self._back_off(exc.retry_after)
            return
        except discord.HTTPException as exc:
            if exc.status == 429:
                self._back_off(_retry_after(exc))
                return
            # The message was deleted or cannot be edited: stop trying, keep streaming the rest.
            log.warning("discord.edit_failed message=%s %s", self.message.id, fields(exc))
            self._shown = self._wanted = text
            return
        self._shown = text
        self._next_at = self._clock.now() + self._interval_s

    def _back_off(self, seconds: float) -> None:
        log.info("discord.rate_limited message=%s retry_after=%.2f", self.message.id, seconds)
        self._next_at = self._clock.now() + max(seconds, self._interval_s)
        self._changed.set()


Post = Callable[[str, discord.Message | None], Awaitable[discord.Message]]


class Reply:
    """An answer shown across as many messages as it needs; a context manager that owns their edit tasks.

    `post(text, previous)` posts a new message (replying to `previous`, or to the user's message when
    None) and is the only place messages are created, so the caller sets mentions, embeds and flags.
    """

    def __init__(self, post: Post, clock: Clock, interval_s: float, limit: int = DISCORD_LIMIT) -> None:
        self._post = post
        self._clock = clock
        self._interval_s = interval_s
        self._limit = limit
        self._live: list[LiveMessage] = []
        self._tasks = asyncio.TaskGroup()

    @property
    def messages(self) -> list[discord.Message]:
        """The messages posted so far, in order."""
        return [live.message for live in self._live]

    async def __aenter__(self) -> Self:
        await self._tasks.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for live in self._live:
            live.close()
        await self._tasks.__aexit__(exc_type, exc, tb)

    async def settle(self, text: str) -> None:
        """After the edit tasks have ended: put `text` into the messages already posted, right away.

        For an answer cut short (shutdown), so no message is left looking unfinished.
        """
        for live, chunk in zip(self._live, split(text, self._limit), strict=False):
            if chunk != live.shown:
                try:
                    await edit_text(live.message, chunk)
                except REFUSALS as exc:
                    log.warning("discord.edit_failed message=%s %s", live.message.id, fields(exc))

    async def show(self, text: str) -> None:
        """Show `text` in full: edit the messages already posted, post new ones for the overflow,
        delete those it no longer needs (the text can shrink, e.g. when a status line goes)."""
        chunks = split(text, self._limit)
        while len(self._live) > len(chunks):
            extra = self._live.pop()
            extra.drop()
            try:
                await extra.message.delete()
            except REFUSALS as exc:
                log.warning("discord.delete_failed message=%s %s", extra.message.id, fields(exc))
        for index, chunk in enumerate(chunks):
            body = chunk if chunk.strip() else _BLANK
            if index < len(self._live):
                self._live[index].show(body)
                continue
            previous = self._live[-1].message if self._live else None
            live = LiveMessage(await self._post(body, previous), self._clock, self._interval_s)
            self._live.append(live)
            self._tasks.create_task(live.run())
