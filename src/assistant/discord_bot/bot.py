"""`assistant discord`: the bot process. Owns the event loop, the gateway connection and shutdown.

The gateway needs the Message Content privileged intent (Developer Portal → Bot). Every message the
bot sends has mentions disabled and link embeds suppressed. SIGTERM (systemd stop) and SIGINT end
answers in progress, close the gateway and the tool servers, and exit 0.
"""

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import discord
from discord import app_commands

from assistant.config import AssistantConfig
from assistant.credentials import read_secret
from assistant.discord_bot.access import Arrival, Place, Verdict, decide
from assistant.discord_bot.answer import NO_MENTIONS, Answerer, Backend
from assistant.discord_bot.chain import Chains, NodeCache
from assistant.discord_bot.clock import Clock, SystemClock
from assistant.discord_bot.commands import Commands
from assistant.discord_bot.refusal import REFUSALS, fields
from assistant.discord_bot.settings import DiscordSettings
from assistant.errors import AssistantError, DiscordLoginFailed
from assistant.policy import Policy
from assistant.session import open_session

log = logging.getLogger(__name__)

_CHAT_TYPES = (discord.MessageType.default, discord.MessageType.reply)
# The longest 429 discord.py sleeps out inside a request; a longer one raises RateLimited at once. A live
# message then defers its edit on the bot's clock and coalesces the text that arrives meanwhile
# (stream.py) instead of an edit with stale text sitting in discord.py for minutes, and other requests
# fail as Discord refusals. 30 s is the least discord.py accepts (it raises lower values to 30).
MAX_RATELIMIT_TIMEOUT_S = 30.0


def intents() -> discord.Intents:
    """Guilds (channels and threads), guild and DM messages, and their content: nothing else."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True
    return wanted


class Bot(discord.Client):
    """The Discord front end: access check, answers, slash commands."""

    def __init__(self, settings: DiscordSettings, backend: Backend, clock: Clock | None = None) -> None:
        # The bot has no voice; without this discord.py warns at every start that voice is unsupported.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            intents=intents(),
            allowed_mentions=NO_MENTIONS,
            chunk_guilds_at_startup=False,
            max_ratelimit_timeout=MAX_RATELIMIT_TIMEOUT_S,
        )
        self.settings = settings
        self.backend = backend
        self.clock = clock or SystemClock()
        self.tree: app_commands.CommandTree[Bot] = app_commands.CommandTree(self)
        self._answerer: Answerer | None = None
        self._answering: set[asyncio.Task[object]] = set()

    async def setup_hook(self) -> None:
        """After login (the bot's user is known): wire answers and commands, publish the commands.

        Commands are global, so they work in DMs too; a guild copy would show each one twice there.
        """
        await self.prepare()
        await self.tree.sync()

    async def prepare(self) -> None:
        """Build what needs the bot's own user; tests call this instead of logging in."""
        assert self.user is not None, "prepare() runs after login"
        chains = Chains(
            self.user, self.settings.owner_ids, NodeCache(self.settings.cache_messages),
            self.settings.max_attachment_bytes,
        )  # fmt: skip
        self._answerer = Answerer(self.settings, self.backend, chains, self.clock)
        Commands(self.settings, self._answerer, chains, self.backend, self.clock).register(self.tree)

    async def on_ready(self) -> None:
        log.info("discord.ready user=%s guilds=%d", self.user.id if self.user else None, len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        await self.handle(message)

    def arrival(self, message: discord.Message) -> Arrival:
        """The facts the access decision needs, read off a message."""
        me = self.user.id if self.user else 0
        channel = message.channel
        place, parent = Place.CHANNEL, None
        if isinstance(channel, discord.DMChannel):
            place = Place.DM
        elif isinstance(channel, discord.Thread):
            place, parent = Place.THREAD, channel.parent_id
        reference = message.reference
        replies_to_me = (
            reference is not None
            and isinstance(reference.resolved, discord.Message)
            and reference.resolved.author.id == me
        )
        mentioned = any(user.id == me for user in message.mentions)
        return Arrival(
            author_id=message.author.id,
            author_is_bot=message.author.bot or message.webhook_id is not None,
            place=place,
            channel_id=channel.id,
            parent_id=parent,
            guild_id=message.guild.id if message.guild else None,
            addressed=mentioned or replies_to_me,
        )

    async def handle(self, message: discord.Message) -> None:
        """Answer the message if the access check allows it; failures become a one-line reply."""
        if message.type not in _CHAT_TYPES or self._answerer is None:
            return
        arrival = self.arrival(message)
        verdict = decide(self.settings, arrival)
        if verdict is Verdict.STRANGER:
            log.info(
                "discord.ignored reason=stranger user=%s place=%s channel=%s guild=%s",
                arrival.author_id, arrival.place.value, arrival.channel_id, arrival.guild_id,
            )  # fmt: skip
        if verdict is not Verdict.ANSWER:
            return
        log.info("discord.answer message=%s place=%s", message.id, arrival.place.value)
        task = asyncio.current_task()
        if task is not None:
            self._answering.add(task)
        try:
            await self._answerer.answer(message)
        except AssistantError as exc:
            await self._report(message, f"⚠️ {exc}")
        except REFUSALS as exc:
            log.warning("discord.answer_failed message=%s %s", message.id, fields(exc))
        except Exception:
            log.exception("discord.internal_error message=%s", message.id)
            await self._report(message, "⚠️ Internal error; the bot's log has the details.")
        finally:
            if task is not None:
                self._answering.discard(task)

    async def _report(self, message: discord.Message, text: str) -> None:
        assert self._answerer is not None
        try:
            await self._answerer.say(message, text)
        except REFUSALS as exc:
            log.warning("discord.report_failed message=%s %s", message.id, fields(exc))

    async def shutdown(self) -> None:
        """Cancel the answers in progress, wait for them, then close the gateway."""
        answering = list(self._answering)
        for task in answering:
            task.cancel()
        await asyncio.gather(*answering, return_exceptions=True)
        await self.close()


class _Redact(logging.Filter):
    """Second line of defence: the token never reaches a log handler, whoever logs it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, "[redacted]"), None
        return True


@asynccontextmanager
async def backend_for(config: AssistantConfig) -> AsyncIterator[Backend]:
    """The same LLM client, tool servers, policy and control API as `assistant chat`, for this process."""
    async with open_session(config) as session:
        for state in session.tools.states():
            if not state.running:
                log.warning("discord.tool_server_down server=%s error=%s", state.name, state.error)
        yield Backend(
            session.llm,
            session.tools,
            Policy(config.policy),
            config.chat,
            config.policy.confirm_timeout_s,
            session.control,
        )


async def run(config: AssistantConfig, settings: DiscordSettings) -> None:
    """Log in, serve until SIGTERM or SIGINT, shut down cleanly. DiscordLoginFailed on a bad token."""
    if not settings.owner_ids:
        raise DiscordLoginFailed(
            "discord.owner_ids is empty: add your Discord user ID, or nobody is answered"
        )
    token = read_secret(settings.token_credential, settings.token_file)
    redact = _Redact(token)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(redact)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await _serve(config, settings, token, stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("discord.stopped")
        for handler in handlers:
            handler.removeFilter(redact)


async def _serve(config: AssistantConfig, settings: DiscordSettings, token: str, stop: asyncio.Event) -> None:
    async with backend_for(config) as backend, Bot(settings, backend) as bot:
        try:
            await bot.login(token)
        except discord.LoginFailure as exc:
            raise DiscordLoginFailed(
                f"Discord rejected the bot token (credential {settings.token_credential!r}, file "
                f"{settings.token_file}): reset it under Developer Portal → Bot and save the new one"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DiscordLoginFailed(f"cannot reach Discord to log in: {exc}") from exc
        except discord.RateLimited as exc:
            raise DiscordLoginFailed(
                f"Discord is rate-limiting the bot: start it again in {exc.retry_after:.0f} s"
            ) from exc
        # Awaited below, so its error (a refused intent) leaves `run` as itself.
        gateway = asyncio.create_task(_connect(bot, stop))
        try:
            await stop.wait()
            log.info("discord.stopping")
        finally:
            await bot.shutdown()
            await gateway


async def _connect(bot: Bot, stop: asyncio.Event) -> None:
    try:
        await bot.connect(reconnect=True)
    except discord.PrivilegedIntentsRequired as exc:
        raise DiscordLoginFailed(
            "Discord refused the Message Content intent: enable it under Developer Portal → Bot → "
            "Privileged Gateway Intents"
        ) from exc
    finally:
        stop.set()
