"""A conversation is a reply chain: walk message references back from the new message.

Each message's parsed text and parent are kept in a capped cache of nodes, so a chain is fetched from
Discord once. Every node has its own lock: the bot holds the locks of the messages it is still
writing, so a chain that reaches them waits for the finished answer instead of reading half of it.
In DMs and threads a message without a reference continues from the message before it; the first
message of a thread continues from the message the thread was started from.

An answer the bot wrote in this process keeps the messages its turn added (tool calls and results) and
whether untrusted content came in; for any other bot message that is unknown, so it counts as untrusted.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import discord

from assistant.discord_bot.attachments import read_text
from assistant.discord_bot.refusal import REFUSALS, fields
from assistant.llm import Message

log = logging.getLogger(__name__)

Role = Literal["user", "assistant"]
_CHAT_TYPES = (discord.MessageType.default, discord.MessageType.reply)


@dataclass
class Node:
    """What the bot knows about one Discord message."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    filled: bool = False
    role: Role = "user"
    text: str = ""
    warnings: tuple[str, ...] = ()
    # The message this one continues, once looked up; None when the chain starts here.
    parent: discord.Message | None = None
    # The conversation stops here: a stranger's message.
    stop: bool = False
    # For the bot's own answers: the messages its turn added, and whether untrusted content came in.
    turn: tuple[Message, ...] = ()
    tainted: bool = False

    def messages(self) -> tuple[Message, ...]:
        if self.turn:
            return self.turn
        return (Message(self.role, self.text),) if self.text else ()


class NodeCache:
    """Nodes by message ID, oldest dropped past `capacity` (snowflakes grow with time)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._nodes: dict[int, Node] = {}

    def get(self, message_id: int) -> Node:
        node = self._nodes.get(message_id)
        if node is None:
            node = self._nodes[message_id] = Node()
            self._prune()
        return node

    def __contains__(self, message_id: int) -> bool:
        return message_id in self._nodes

    def _prune(self) -> None:
        while len(self._nodes) > self._capacity:
            oldest = min(self._nodes)
            if self._nodes[oldest].lock.locked():
                # Never drop a node that is being written; drop the next oldest instead.
                unlocked = [key for key, node in self._nodes.items() if not node.lock.locked()]
                if not unlocked:
                    return
                oldest = min(unlocked)
            del self._nodes[oldest]

    @asynccontextmanager
    async def writing(self, message: discord.Message, parent: discord.Message) -> AsyncIterator[Node]:
        """Hold the node of a message the bot posted while its answer is still being written."""
        node = self.get(message.id)
        async with node.lock:
            node.filled, node.role, node.parent = True, "assistant", parent
            yield node


@dataclass(frozen=True)
class Conversation:
    """The messages, oldest first, whether untrusted content is among them, and warnings for the user."""

    history: list[Message]
    tainted: bool
    warnings: list[str]


class Chains:
    """Builds conversations for one bot user, with its cache, owners and /reset points."""

    def __init__(
        self, me: discord.abc.User, owners: frozenset[int], cache: NodeCache, max_bytes: int
    ) -> None:
        self._me = me
        self._owners = owners
        self._cache = cache
        self._max_bytes = max_bytes
        # channel ID -> snowflake: nothing older is part of a conversation there.
        self._resets: dict[int, int] = {}

    @property
    def cache(self) -> NodeCache:
        return self._cache

    def reset(self, channel_id: int, at: int) -> None:
        """Start a new conversation in a channel: messages before the snowflake `at` are forgotten."""
        self._resets[channel_id] = max(at, self._resets.get(channel_id, 0))

    async def build(self, message: discord.Message, max_messages: int) -> Conversation:
        """The conversation that ends with `message`, at most `max_messages` Discord messages long."""
        nodes: list[Node] = []
        warnings: set[str] = set()
        current: discord.Message | None = message
        seen: set[int] = set()
        while current is not None and len(nodes) < max_messages and current.id not in seen:
            seen.add(current.id)
            if current.id < self._resets.get(current.channel.id, 0):
                break
            node = self._cache.get(current.id)
            async with node.lock:
                if not node.filled:
                    await self._fill(node, current)
                if node.stop:
                    break
                nodes.append(node)
                warnings.update(node.warnings)
                current = node.parent
        if current is not None and len(nodes) >= max_messages:
            warnings.add(f"only the last {max_messages} messages are used")
        nodes.reverse()
        history = [m for node in nodes for m in node.messages()]
        return Conversation(history, any(node.tainted for node in nodes), sorted(warnings))

    async def _fill(self, node: Node, message: discord.Message) -> None:
        node.filled = True
        if message.author.id == self._me.id:
            node.role = "assistant"
            node.text = message.content
            # Written before this process started: what the turn read is unknown, so assume the worst.
            node.tainted = True
        elif message.author.id in self._owners:
            node.role = "user"
            blocks, warnings = await read_text(message, self._max_bytes)
            node.text = "\n\n".join([self._without_mention(message.content), *blocks]).strip()
            node.warnings = tuple(warnings)
        else:
            # Someone else's words never enter the owner's conversation.
            node.stop = True
            return
        try:
            node.parent = await self._parent(message)
        except REFUSALS as exc:
            log.info("discord.parent_unavailable message=%s %s", message.id, fields(exc))
            node.parent = None
            node.warnings = (*node.warnings, "an earlier message could not be fetched")

    def _without_mention(self, content: str) -> str:
        for mention in (f"<@{self._me.id}>", f"<@!{self._me.id}>"):
            content = content.replace(mention, "")
        return content.strip()

    async def _parent(self, message: discord.Message) -> discord.Message | None:
        reference = message.reference
        if reference is not None and reference.type is discord.MessageReferenceType.reply:
            if isinstance(reference.resolved, discord.Message):
                return reference.resolved
            if reference.cached_message is not None:
                return reference.cached_message
            if reference.message_id is not None and reference.channel_id == message.channel.id:
                return await message.channel.fetch_message(reference.message_id)
            return None
        channel = message.channel
        if not isinstance(channel, discord.DMChannel | discord.Thread):
            return None
        async for previous in channel.history(limit=1, before=message):
            if previous.type is not discord.MessageType.thread_starter_message:
                return previous if previous.type in _CHAT_TYPES else None
        if isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.TextChannel):
            # A thread started from a message shares that message's ID; a forum post's starter is inside.
            return channel.starter_message or await channel.parent.fetch_message(channel.id)
        return None
