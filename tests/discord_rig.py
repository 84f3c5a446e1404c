"""What the Discord bot's integration tests share: a Bot logged in to the fake Discord over HTTP, an
OpenAI-compatible server, a real in-process MCP server, and optionally swapd's control API."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import discord
import httpx
from agent_rig import desk_server
from fakes.discord_gateway import FakeClock, FakeDiscord
from fakes.discord_rest import Payload, Request

from assistant.config import ChatSettings, McpSettings, PolicySettings
from assistant.discord_bot.answer import Backend
from assistant.discord_bot.bot import Bot
from assistant.discord_bot.settings import DiscordSettings
from assistant.llm import LlmClient
from assistant.mcp_client import ToolServers
from assistant.policy import Policy
from assistant.swapd_control import SwapdControl


@dataclass
class Rig:
    bot: Bot
    discord: FakeDiscord
    clock: FakeClock
    owner: Payload

    def sent(self) -> list[Request]:
        return [r for r in self.discord.requests if r.method == "POST" and r.path.endswith("/messages")]

    def content(self, message_id: int) -> str:
        return str(self.discord.messages[message_id]["content"])

    def bot_messages(self) -> list[dict[str, object]]:
        return [m for m in self.discord.messages.values() if m["author"]["id"] == self.discord.bot_user["id"]]

    def embeds_suppressed(self) -> bool:
        """Every message the bot posted still has SUPPRESS_EMBEDS after all its edits."""
        flag = discord.MessageFlags.suppress_embeds.flag
        return all(int(str(m.get("flags", 0))) & flag for m in self.bot_messages())

    def answers(self, *, besides: int | None = None) -> list[str]:
        """The final text of every message the bot posted (but `besides`), oldest first."""
        ids = sorted(
            i
            for i, m in self.discord.messages.items()
            if m["author"]["id"] == self.discord.bot_user["id"] and i != besides
        )
        return [self.content(i) for i in ids]

    def prompt_id(self) -> int:
        """The one message showing buttons now: a confirmation prompt waiting for its answer."""
        (prompt_id,) = [i for i, m in self.discord.messages.items() if m.get("components")]
        return prompt_id


@asynccontextmanager
async def rig(
    url: str,
    control: tuple[str, str] | None = None,
    *,
    tools: bool = True,
    max_tokens: int | None = None,
    **settings: object,
) -> AsyncIterator[Rig]:
    """A prepared Bot (as after login); `control` is swapd's control API as (URL, admin token)."""
    in_process = {"desk": desk_server()} if tools else {}
    async with (
        httpx.AsyncClient() as http,
        ToolServers.started(McpSettings(), in_process=in_process) as servers,
        FakeDiscord() as fake,
    ):
        llm = LlmClient(http, url, "test-key", idle_timeout_s=60, swap_wait_s=60, max_tokens=max_tokens)
        swapd = SwapdControl(http, *control) if control else None
        backend = Backend(llm, servers, Policy(PolicySettings()), ChatSettings(), 120.0, swapd)
        clock = FakeClock(instant_up_to=30)
        owner = fake.user_payload("owner")
        owners = frozenset({int(owner["id"])})
        bot = Bot(DiscordSettings(owner_ids=owners, **settings), backend, clock)  # type: ignore[arg-type]
        await fake.log_in(bot)  # its setup_hook prepares answers and syncs the commands
        try:
            yield Rig(bot, fake, clock, owner)
        finally:
            await bot.close()
