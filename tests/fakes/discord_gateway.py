"""A fake Discord for discord.py's own objects: its REST API served over HTTP, gateway events as payloads.

The REST side is `DiscordRest` (a loopback HTTP server speaking Discord's REST shapes, with rate-limit
headers, that discord.py's real HTTP client logs in to). The gateway side builds the events the bot
would receive (MESSAGE_CREATE as `post`, INTERACTION_CREATE as `press` and `command`) into discord.py's
real models and state, shaped as in Discord's API docs:
https://discord.com/developers/docs/resources/message#message-object,
https://discord.com/developers/docs/resources/channel#channel-object and
https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object.
"""

import asyncio
from typing import Any

import discord
from fakes.discord_rest import TOKEN, DiscordRest, Payload


class FakeDiscord(DiscordRest):
    """Channels, messages and interactions for one bot user, behind discord.py's real models.

    Use as `async with FakeDiscord() as fake:` and `await fake.log_in(client)`; `requests` then holds
    what the client asked after its login.
    """

    def __init__(self, **rest: Any) -> None:
        super().__init__(**rest)
        self._client: discord.Client | None = None

    async def log_in(self, client: discord.Client) -> None:
        """Log `client` in over HTTP (its `setup_hook` runs), as a real start does before the gateway."""
        await client.login(TOKEN)
        self._client = client
        self.requests.clear()

    @property
    def client(self) -> discord.Client:
        assert self._client is not None, "log_in() first"
        return self._client

    @property
    def state(self) -> Any:
        """discord.py's ConnectionState of the logged-in client."""
        return self.client._connection

    # -- channels -------------------------------------------------------------------------------------

    def dm(self, user: Payload) -> discord.DMChannel:
        channel = self.state.add_dm_channel({"id": str(self.next_id()), "type": 1, "recipients": [user]})
        assert isinstance(channel, discord.DMChannel)
        return channel

    def guild(self, *, channels: int = 1) -> discord.Guild:
        guild_id = str(self.next_id())
        text_channels = [
            {
                "id": str(self.next_id()),
                "type": 0,
                "name": f"chat-{n}",
                "position": n,
                "guild_id": guild_id,
                "permission_overwrites": [],
            }
            for n in range(channels)
        ]
        data = {
            "id": guild_id,
            "name": "home",
            "owner_id": self.bot_user["id"],
            "channels": text_channels,
            "threads": [],
            "members": [],
            "roles": [
                {
                    "id": guild_id,
                    "name": "@everyone",
                    "permissions": "0",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "member_count": 2,
        }
        guild = self.state._add_guild_from_data(data)
        assert isinstance(guild, discord.Guild)
        return guild

    def thread(self, parent: discord.TextChannel, starter: discord.Message | None = None) -> discord.Thread:
        data = {
            "id": str(starter.id if starter else self.next_id()),
            "type": 11,
            "name": "topic",
            "guild_id": str(parent.guild.id),
            "parent_id": str(parent.id),
            "owner_id": self.bot_user["id"],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": "2026-11-26T00:00:00+00:00",
                "locked": False,
            },
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
        }
        thread = discord.Thread(guild=parent.guild, state=self.state, data=data)  # type: ignore[arg-type]
        parent.guild._add_thread(thread)
        return thread

    # -- gateway events -------------------------------------------------------------------------------

    def post(
        self,
        channel: discord.abc.Messageable,
        author: Payload,
        content: str,
        *,
        reply_to: int | None = None,
        attachments: list[Payload] | None = None,
        kind: int | None = None,
    ) -> discord.Message:
        """A message someone posted, as the gateway's MESSAGE_CREATE would bring it."""
        guild = getattr(channel, "guild", None)
        data = self.message_payload(
            channel.id,  # type: ignore[attr-defined]
            author,
            content,
            guild_id=guild.id if guild is not None else None,
            reply_to=reply_to,
            attachments=attachments,
            kind=kind,
        )
        return discord.Message(state=self.state, channel=channel, data=data)  # type: ignore[arg-type]

    def interaction_payload(self, user: Payload, channel: discord.abc.Messageable, **fields: Any) -> Payload:
        channel_id = channel.id  # type: ignore[attr-defined]
        interaction_id = self.next_id()
        token = f"interaction-token-{interaction_id}"
        message = fields.get("message")
        message_id = int(message["id"]) if message else None
        self.interaction_started(token, interaction_id, int(fields["type"]), user, channel_id, message_id)
        data: Payload = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "user": user,
            "locale": "en-US",
            "app_permissions": "0",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 1,
            "attachment_size_limit": 8_000_000,
        }
        guild = getattr(channel, "guild", None)
        if isinstance(channel, discord.DMChannel):
            data["channel"] = {"id": str(channel_id), "type": 1, "recipients": [user]}
            data["context"] = 1
        elif guild is not None:
            data["guild_id"] = str(guild.id)
            data["channel"] = {"id": str(channel_id), "type": channel.type.value, "guild_id": str(guild.id)}  # type: ignore[attr-defined]
            data["member"] = {"user": user, "roles": [], "joined_at": "2026-01-01T00:00:00+00:00",
                              "deaf": False, "mute": False, "permissions": "0"}  # fmt: skip
            del data["user"]
            data["context"] = 0
        data.update(fields)
        return data

    def press(self, user: Payload, message: discord.Message, custom_id: str) -> None:
        """A button press on `message`, as INTERACTION_CREATE brings it."""
        payload = self.interaction_payload(
            user,
            message.channel,
            type=3,
            message=self.messages[message.id],
            data={"custom_id": custom_id, "component_type": 2},
        )
        self.state.parse_interaction_create(payload)

    def command(self, user: Payload, channel: discord.abc.Messageable, name: str, **options: str) -> int:
        """A slash command, as INTERACTION_CREATE brings it; the interaction's ID."""
        data = {
            "id": str(self.next_id()),
            "name": name,
            "type": 1,
            "options": [{"name": key, "type": 3, "value": value} for key, value in options.items()],
        }
        payload = self.interaction_payload(user, channel, type=2, data=data)
        self.state.parse_interaction_create(payload)
        return int(payload["id"])


class FakeClock:
    """Time that moves only when a test says so; sleepers wake when their moment is reached.

    Sleeps of at most `instant_up_to` seconds (edit spacing, short backoffs) pass at once, moving the
    clock, so a whole answer can stream while a confirmation timeout still waits for `advance`.
    """

    def __init__(self, instant_up_to: float = 0.0) -> None:
        self._now = 1000.0
        self._instant_up_to = instant_up_to
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._changed = asyncio.Condition()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= self._instant_up_to:
            self._now += max(seconds, 0.0)
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, wake))
        async with self._changed:
            self._changed.notify_all()
        try:
            await wake
        finally:
            self._sleepers = [(at, f) for at, f in self._sleepers if f is not wake]

    async def sleeping(self, count: int = 1) -> list[float]:
        """Wait until `count` tasks sleep on this clock; their wake-up times."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._sleepers) >= count)
        return sorted(at for at, _ in self._sleepers)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        for at, wake in self._sleepers:
            if at <= self._now and not wake.done():
                wake.set_result(None)
