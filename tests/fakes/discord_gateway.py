"""A fake Discord for discord.py's own objects: REST answered in memory, gateway events built as payloads.

The REST side replaces `HTTPClient.request` and the interaction webhook adapter (the seams where
discord.py turns a `Route` into an HTTP call) and answers with payloads shaped as in Discord's API docs:
https://discord.com/developers/docs/resources/message#message-object,
https://discord.com/developers/docs/resources/channel#channel-object and
https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object.
Every request is recorded; `fail_next` makes the next matching request raise (429s, 404s).
Tests wait on `requests_where` (an asyncio.Condition), never on time.
"""

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
from discord.http import Route
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

Payload = dict[str, Any]
# A snowflake for 2026-11-26; IDs grow with every object, as real ones grow with time.
_EPOCH_SNOWFLAKE = 1_443_000_000_000 << 22


@dataclass
class Request:
    method: str
    path: str
    json: Payload | None
    params: Payload
    files: list[str] = field(default_factory=list)
    url: str = ""


def error_response(status: int, retry_after: float | None = None) -> SimpleNamespace:
    """Enough of an aiohttp response for discord.HTTPException."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return SimpleNamespace(
        status=status, reason="Too Many Requests" if status == 429 else "Error", headers=headers
    )


class FakeDiscord:
    """Channels, messages and interactions for one bot user, behind discord.py's real models."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self.state = client._connection
        self._ids = itertools.count(_EPOCH_SNOWFLAKE, 1 << 22)
        self.bot_user = self.user_payload("variet", bot=True)
        self.application_id = self.next_id()
        self.requests: list[Request] = []
        self.messages: dict[int, Payload] = {}
        self.cdn: dict[str, bytes] = {}
        self._failures: list[tuple[Callable[[Request], bool], Exception]] = []
        self._changed = asyncio.Condition()
        self.interaction_channel: discord.abc.Messageable | discord.Object = discord.Object(0)

    async def start(self) -> None:
        """Do what login would, without a network: a loop, the bot user, the REST seams."""
        await self.client._async_setup_hook()
        self.state.user = discord.ClientUser(state=self.state, data=self.bot_user)  # type: ignore[arg-type]
        self.state.application_id = self.application_id
        self.client.http.request = self._request  # type: ignore[method-assign]
        self.client.http.get_from_cdn = self._get_from_cdn  # type: ignore[method-assign]
        adapter = AsyncWebhookAdapter()
        adapter.request = self._webhook_request  # type: ignore[method-assign]
        async_context.set(adapter)

    def next_id(self) -> int:
        return next(self._ids)

    # -- payloads -------------------------------------------------------------------------------------

    def user_payload(self, name: str, *, bot: bool = False) -> Payload:
        user_id = str(self.next_id())
        return {
            "id": user_id,
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": bot,
        }

    def dm(self, user: Payload) -> discord.DMChannel:
        channel = self.state.add_dm_channel({"id": str(self.next_id()), "type": 1, "recipients": [user]})  # type: ignore[typeddict-item]
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
        return self.state._add_guild_from_data(data)  # type: ignore[arg-type]

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

    def message_payload(
        self,
        channel: discord.abc.Messageable,
        author: Payload,
        content: str,
        *,
        reply_to: int | None = None,
        attachments: list[Payload] | None = None,
        kind: int | None = None,
    ) -> Payload:
        channel_id = channel.id  # type: ignore[attr-defined]
        mentions = [self.bot_user] if f"<@{self.bot_user['id']}>" in content else []
        data: Payload = {
            "id": str(self.next_id()),
            "channel_id": str(channel_id),
            "author": author,
            "content": content,
            "timestamp": "2026-11-26T22:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": [],
            "pinned": False,
            "type": kind if kind is not None else (19 if reply_to else 0),
            "flags": 0,
        }
        guild = getattr(channel, "guild", None)
        if guild is not None:
            data["guild_id"] = str(guild.id)
        if reply_to is not None:
            data["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
            }
            data["referenced_message"] = self.messages.get(reply_to)
        self.messages[int(data["id"])] = data
        return data

    def post(
        self, channel: discord.abc.Messageable, author: Payload, content: str, **kwargs: Any
    ) -> discord.Message:
        """A message someone posted, as the gateway's MESSAGE_CREATE would bring it."""
        data = self.message_payload(channel, author, content, **kwargs)
        return discord.Message(state=self.state, channel=channel, data=data)  # type: ignore[arg-type]

    def attachment(self, filename: str, content_type: str | None, body: bytes) -> Payload:
        url = f"https://cdn.discordapp.com/attachments/{self.next_id()}/{filename}"
        self.cdn[url] = body
        data: Payload = {
            "id": str(self.next_id()),
            "filename": filename,
            "size": len(body),
            "url": url,
            "proxy_url": url,
        }
        if content_type is not None:
            data["content_type"] = content_type
        return data

    def interaction_payload(self, user: Payload, channel: discord.abc.Messageable, **fields: Any) -> Payload:
        channel_id = channel.id  # type: ignore[attr-defined]
        self.interaction_channel = channel
        data: Payload = {
            "id": str(self.next_id()),
            "application_id": str(self.application_id),
            "token": "interaction-token",
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
        self.state.parse_interaction_create(payload)  # type: ignore[arg-type]

    def command(self, user: Payload, channel: discord.abc.Messageable, name: str, **options: str) -> int:
        """A slash command, as INTERACTION_CREATE brings it; the interaction's ID."""
        data = {
            "id": str(self.next_id()),
            "name": name,
            "type": 1,
            "options": [{"name": key, "type": 3, "value": value} for key, value in options.items()],
        }
        payload = self.interaction_payload(user, channel, type=2, data=data)
        self.state.parse_interaction_create(payload)  # type: ignore[arg-type]
        return int(payload["id"])

    # -- waiting --------------------------------------------------------------------------------------

    async def requests_where(self, match: Callable[[Request], bool], count: int = 1) -> list[Request]:
        """Wait until at least `count` recorded requests match (bounded by the test's timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len([r for r in self.requests if match(r)]) >= count)
        return [r for r in self.requests if match(r)]

    def fail_next(self, match: Callable[[Request], bool], error: Exception) -> None:
        self._failures.append((match, error))

    # -- the REST seam --------------------------------------------------------------------------------

    async def _record(self, request: Request) -> None:
        # A request is on the wire only after this await, as with a real HTTP call: a task cancelled
        # before it sends nothing.
        await asyncio.sleep(0)
        self.requests.append(request)
        async with self._changed:
            self._changed.notify_all()
        for index, (match, error) in enumerate(self._failures):
            if match(request):
                del self._failures[index]
                raise error

    async def _request(self, route: Route, *, files: Any = None, form: Any = None, **kwargs: Any) -> Any:
        body = kwargs.get("json")
        if form:
            body = json.loads(next(part["value"] for part in form if part["name"] == "payload_json"))
        request = Request(
            route.method,
            route.path,
            body,
            dict(kwargs.get("params") or {}),
            [f.filename for f in files or []],
            route.url,
        )
        await self._record(request)
        return self._answer(route, request)

    async def _webhook_request(self, route: Route, session: Any, **kwargs: Any) -> Any:
        body = kwargs.get("payload")
        if kwargs.get("multipart"):
            body = json.loads(next(p["value"] for p in kwargs["multipart"] if p["name"] == "payload_json"))
        request = Request(
            route.method,
            route.path,
            body,
            dict(kwargs.get("params") or {}),
            [f.filename for f in kwargs.get("files") or []],
        )
        await self._record(request)
        if route.path.endswith("/callback"):
            return {"interaction": {"id": str(route.webhook_id), "type": 2}}
        # Follow-ups and edits of the original response: a message from the bot in the same channel.
        content = (body or {}).get("content") or ""
        return self.message_payload(self.interaction_channel, self.bot_user, content)

    async def _get_from_cdn(self, url: str) -> bytes:
        await self._record(Request("GET", url, None, {}))
        return self.cdn[url]

    def _answer(self, route: Route, request: Request) -> Any:
        channel_id = route.channel_id
        message_id = getattr(route, "message_id", None) or _path_id(route, "message_id")
        match (route.method, route.path):
            case ("POST", "/channels/{channel_id}/typing"):
                return None
            case ("POST", "/channels/{channel_id}/messages"):
                body = request.json or {}
                channel = self.state.get_channel(int(channel_id)) or discord.Object(int(channel_id))  # type: ignore[arg-type]
                reference = body.get("message_reference")
                data = self.message_payload(
                    channel,
                    self.bot_user,
                    body.get("content") or "",  # type: ignore[arg-type]
                    reply_to=int(reference["message_id"]) if reference else None,
                )
                data["flags"] = body.get("flags", 0)
                data["attachments"] = [
                    {"id": str(self.next_id()), "filename": name, "size": 1, "url": "u", "proxy_url": "u"}
                    for name in request.files
                ]
                return data
            case ("PATCH", "/channels/{channel_id}/messages/{message_id}"):
                data = self.messages[int(message_id)]
                for key in ("content", "flags", "components"):
                    if key in (request.json or {}):
                        data[key] = request.json[key]  # type: ignore[index]
                return data
            case ("DELETE", "/channels/{channel_id}/messages/{message_id}"):
                del self.messages[int(message_id)]
                return None
            case ("GET", "/channels/{channel_id}/messages/{message_id}"):
                if int(message_id) not in self.messages:
                    raise discord.NotFound(error_response(404), {"code": 10008, "message": "Unknown Message"})  # type: ignore[arg-type]
                return self.messages[int(message_id)]
            case ("GET", "/channels/{channel_id}/messages"):
                before = int(request.params.get("before", 1 << 63))
                older = sorted(
                    (
                        m
                        for i, m in self.messages.items()
                        if m["channel_id"] == str(channel_id) and i < before
                    ),
                    key=lambda m: int(m["id"]),
                    reverse=True,
                )
                return older[: int(request.params.get("limit", 50))]
        raise AssertionError(f"the fake Discord does not answer {route.method} {route.path}")


def _path_id(route: Route, name: str) -> int | None:
    # Route keeps only major parameters; the message ID is the last path segment of the URL.
    if "{" + name + "}" not in route.path:
        return None
    return int(route.url.rstrip("/").rsplit("/", 1)[1])


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
