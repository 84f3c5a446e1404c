"""Discord's REST API on a loopback port, spoken to by discord.py's own HTTP client.

`DiscordRest` points discord.py at itself through `discord.http.Route.BASE` (the base URL every REST
and interaction route is built on; Discord-compatible servers such as Spacebar document the same
switch), so discord.py's real request, rate-limit and retry code runs against it. Routes, JSON
shapes and errors follow Discord's API reference:
https://discord.com/developers/docs/resources/user#get-current-user,
https://discord.com/developers/docs/resources/application#get-current-application,
https://discord.com/developers/docs/interactions/application-commands#bulk-overwrite-global-application-commands,
https://discord.com/developers/docs/resources/message (create, get, edit, delete, list),
https://discord.com/developers/docs/resources/channel#trigger-typing-indicator,
https://discord.com/developers/docs/interactions/receiving-and-responding (callback with
`with_response`, original response, follow-ups), and https://discord.com/developers/docs/topics/opcodes-and-status-codes#json.
Rate limits follow https://discord.com/developers/docs/topics/rate-limits: every answer carries
`X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket`, counted per route and top-level resource in a
window, and a 429 has a `{"message", "retry_after", "global"}` body with `Retry-After` and
`X-RateLimit-Scope` (plus `X-RateLimit-Global` when global). Discord answers through Google's front
end (`Via: 1.1 google`), which discord.py checks before it trusts a 429. Attachments are served from
the same port in place of the CDN.

Every request is recorded with the status it got; `fail_next` answers the next matching request with
a scripted answer, and `hold_next` keeps it waiting (a request Discord has received but not yet
answered) until the test releases it. Tests wait on `requests_where` (an asyncio.Condition) and on a
hold's `arrived`, never on time.
"""

import asyncio
import hashlib
import itertools
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from discord.http import Route

Payload = dict[str, Any]
API = "/api/v10"
TOKEN = "MTAx.fake-bot-token.for-tests"
# A snowflake for 2026-11-26; IDs grow with every object, as real ones grow with time.
_EPOCH_SNOWFLAKE = 1_443_000_000_000 << 22
_VIA = "1.1 google"
# Interaction callback types (receiving-and-responding#interaction-response-object-interaction-callback-type);
# 6, DEFERRED_UPDATE_MESSAGE, changes nothing until an edit.
_CHANNEL_MESSAGE, _DEFERRED_CHANNEL_MESSAGE, _UPDATE_MESSAGE = 4, 5, 7
_COMMAND_ANSWER = 20
_EPHEMERAL = 1 << 6


@dataclass
class Request:
    method: str
    # The route as discord.py's `Route.path` names it, e.g. "/channels/{channel_id}/messages".
    path: str
    json: Payload | None
    params: dict[str, str]
    files: list[str] = field(default_factory=list)
    url: str = ""
    status: int = 0


@dataclass(frozen=True)
class Answer:
    """A scripted answer for `fail_next`."""

    status: int
    body: Payload | list[Payload] | str
    headers: dict[str, str] = field(default_factory=dict)
    # Discord's answers pass Google's front end; Cloudflare's own blocks do not.
    via: bool = True


def rate_limited(retry_after: float, *, scope: str = "user") -> Answer:
    """A 429 as Discord sends it; discord.py waits `retry_after` and retries by itself."""
    is_global = scope == "global"
    headers = {"Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Scope": scope}
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    else:
        headers |= {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": f"{retry_after:.3f}"}
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
    return Answer(429, body, headers)


def blocked_by_cloudflare(retry_after: int) -> Answer:
    """Cloudflare's 429 after too many invalid requests: text, no `Via`; discord.py raises it at once."""
    return Answer(429, "error code: 1015", {"Retry-After": str(retry_after)}, via=False)


def unknown_message() -> Answer:
    return Answer(404, {"message": "Unknown Message", "code": 10008})


def _unauthorized() -> Answer:
    return Answer(401, {"message": "401: Unauthorized", "code": 0})


@dataclass
class Hold:
    """A request kept waiting before it is served: `arrived` is set when it comes, `release()` lets it on.

    Once it has arrived it is served even if the client stops waiting, as Discord carries out a request
    it has received whether or not anyone reads the answer.
    """

    match: Callable[[Request], bool]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class _Bucket:
    remaining: int
    resets_at: float


@dataclass
class _Call:
    """What a route handler gets: the path parameters, the JSON body, the query and file names."""

    match: dict[str, str]
    json: Any
    params: dict[str, str]
    files: list[str]


@dataclass
class _Interaction:
    id: int
    # 2 for an application command, 3 for a message component.
    kind: int
    user: Payload
    channel_id: int
    # The message a component sat on (for UPDATE_MESSAGE); the response message once there is one.
    message_id: int | None = None
    response_id: int | None = None

    def metadata(self) -> Payload:
        """The message's `interaction_metadata` (message#message-interaction-metadata-object)."""
        data: Payload = {
            "id": str(self.id),
            "type": self.kind,
            "user": self.user,
            "authorizing_integration_owners": {},
        }
        if self.message_id is not None:
            data["interacted_message_id"] = str(self.message_id)
        if self.response_id is not None:
            data["original_response_message_id"] = str(self.response_id)
        return data


Handler = Callable[[_Call], Awaitable["Payload | list[Payload] | None"]]


class _Refused(Exception):
    """A route's error answer (Unknown Message and the like)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class DiscordRest:
    """The REST side of a fake Discord for one bot user; an async context manager that serves it.

    `limit` requests per `window_s` are allowed per route and top-level resource, as Discord counts.
    """

    def __init__(self, token: str = TOKEN, *, limit: int = 50, window_s: float = 1.0) -> None:
        self.token = token
        self.limit = limit
        self.window_s = window_s
        self._ids = itertools.count(_EPOCH_SNOWFLAKE, 1 << 22)
        self.bot_user = self.user_payload("variet", bot=True)
        self.application_id = self.next_id()
        self.requests: list[Request] = []
        # Requests for routes this fake does not serve; leaving the context fails on any.
        self.unanswered: list[str] = []
        self.messages: dict[int, Payload] = {}
        self.cdn: dict[str, bytes] = {}
        self._interactions: dict[str, _Interaction] = {}
        self.url = ""
        self._failures: list[tuple[Callable[[Request], bool], Answer]] = []
        self._holds: list[Hold] = []
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base = ""

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._base, Route.BASE = Route.BASE, self.url + API
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        Route.BASE = self._base
        for hold in self._holds:  # a request still held would keep the server from stopping
            hold.release()
        if self._runner is not None:
            await self._runner.cleanup()
        if exc is None:
            assert not self.unanswered, f"the fake Discord does not answer {self.unanswered}"

    def next_id(self) -> int:
        return next(self._ids)

    # -- payloads -------------------------------------------------------------------------------------

    def user_payload(self, name: str, *, bot: bool = False) -> Payload:
        return {
            "id": str(self.next_id()),
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": bot,
        }

    def message_payload(
        self,
        channel_id: int,
        author: Payload,
        content: str,
        *,
        guild_id: int | None = None,
        reply_to: int | None = None,
        attachments: list[Payload] | None = None,
        kind: int | None = None,
    ) -> Payload:
        """A message object, stored; `guild_id` is set only on gateway events, as Discord does."""
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
            "components": [],
            "pinned": False,
            "type": kind if kind is not None else (19 if reply_to else 0),
            "flags": 0,
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        if reply_to is not None:
            data["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
            }
            data["referenced_message"] = self.messages.get(reply_to)
        self.messages[int(data["id"])] = data
        return data

    def attachment(self, filename: str, content_type: str | None, body: bytes) -> Payload:
        """An attachment object whose file this server hands out, as the CDN would."""
        attachment_id = self.next_id()
        url = f"{self.url}/attachments/{attachment_id}/{filename}"
        self.cdn[url] = body
        data: Payload = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(body),
            "url": url,
            "proxy_url": url,
        }
        if content_type is not None:
            data["content_type"] = content_type
        return data

    def interaction_started(
        self,
        token: str,
        interaction_id: int,
        kind: int,
        user: Payload,
        channel_id: int,
        message_id: int | None,
    ) -> None:
        """The gateway delivered an interaction (on `message_id`'s component, if any): answer its webhooks."""
        self._interactions[token] = _Interaction(interaction_id, kind, user, channel_id, message_id)

    # -- waiting and scripting ------------------------------------------------------------------------

    async def requests_where(self, match: Callable[[Request], bool], count: int = 1) -> list[Request]:
        """Wait until at least `count` recorded requests match (bounded by the test's timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len([r for r in self.requests if match(r)]) >= count)
        return [r for r in self.requests if match(r)]

    def fail_next(self, match: Callable[[Request], bool], answer: Answer) -> None:
        """Answer the next request that matches with `answer` instead of serving it."""
        self._failures.append((match, answer))

    def hold_next(self, match: Callable[[Request], bool]) -> Hold:
        """Keep the next request that matches waiting, unanswered, until the test calls `release()`."""
        hold = Hold(match)
        self._holds.append(hold)
        return hold

    # -- serving --------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        routes: list[tuple[str, str, Handler, bool]] = [
            # method, Route.path, handler, needs the bot token
            ("GET", "/users/@me", self._me, True),
            ("GET", "/oauth2/applications/@me", self._application, True),
            ("PUT", "/applications/{application_id}/commands", self._sync_commands, True),
            ("POST", "/channels/{channel_id}/typing", self._typing, True),
            ("GET", "/channels/{channel_id}/messages", self._history, True),
            ("POST", "/channels/{channel_id}/messages", self._create_message, True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, True),
            ("POST", "/interactions/{webhook_id}/{webhook_token}/callback", self._callback, False),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", self._get_original, False),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                self._edit_original,
                False,
            ),
            ("POST", "/webhooks/{webhook_id}/{webhook_token}", self._follow_up, False),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._edit_follow_up,
                False,
            ),
        ]
        app = web.Application()
        for method, path, handler, authorized in routes:
            app.router.add_route(method, API + path, self._serve(path, handler, authorized))
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._cdn)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    def _serve(
        self, path: str, handler: Handler, authorized: bool
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(http: web.Request) -> web.Response:
            call = await _read(http)
            body = call.json if isinstance(call.json, dict) else None
            request = Request(http.method, path, body, call.params, call.files, str(http.url))
            await self._wait_if_held(request)
            headers: dict[str, str] = {}
            answer = self._scripted(request)
            if answer is None and authorized and http.headers.get("Authorization") != f"Bot {self.token}":
                answer = _unauthorized()
            if answer is None:
                major = "+".join(
                    call.match[name] for name in ("channel_id", "guild_id", "webhook_id", "webhook_token")
                    if name in call.match
                )  # fmt: skip
                headers, answer = self._count(path, major)
            if answer is None:
                try:
                    served = await handler(call)
                except _Refused as refused:
                    answer = refused.answer
                else:
                    answer = Answer(204, "") if served is None else Answer(200, served)
            return await self._answer(request, answer, headers)

        return serve

    async def _wait_if_held(self, request: Request) -> None:
        for hold in self._holds:
            if not hold.arrived.is_set() and hold.match(request):
                hold.arrived.set()
                await hold.released.wait()
                return

    def _scripted(self, request: Request) -> Answer | None:
        for index, (match, answer) in enumerate(self._failures):
            if match(request):
                del self._failures[index]
                return answer
        return None

    def _count(self, path: str, major: str) -> tuple[dict[str, str], Answer | None]:
        """This request against its bucket: the rate-limit headers, and a 429 if the bucket is empty."""
        now = asyncio.get_running_loop().time()
        bucket = self._buckets.get((path, major))
        if bucket is None or now >= bucket.resets_at:
            bucket = self._buckets[(path, major)] = _Bucket(self.limit, now + self.window_s)
        # Rounded up to Discord's millisecond precision, so a client that waits it out is never early.
        reset_after = math.ceil((bucket.resets_at - now) * 1000) / 1000
        exhausted = bucket.remaining == 0
        bucket.remaining = max(bucket.remaining - 1, 0)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(bucket.remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha256(path.encode()).hexdigest()[:32],
        }
        return headers, rate_limited(reset_after) if exhausted else None

    async def _record(self, request: Request, status: int) -> None:
        request.status = status
        self.requests.append(request)
        async with self._changed:
            self._changed.notify_all()

    async def _answer(self, request: Request, answer: Answer, headers: dict[str, str]) -> web.Response:
        await self._record(request, answer.status)
        headers = {**headers, **answer.headers}
        if answer.via:
            headers["Via"] = _VIA
        if answer.status == 204:
            return web.Response(status=204, headers=headers)
        if isinstance(answer.body, str):
            return web.Response(status=answer.status, text=answer.body, headers=headers)
        # Exactly `application/json`: discord.py parses JSON only for that header value.
        headers["Content-Type"] = "application/json"
        return web.Response(status=answer.status, body=json.dumps(answer.body).encode(), headers=headers)

    async def _cdn(self, http: web.Request) -> web.Response:
        url = str(http.url)
        request = Request("GET", "/attachments/{attachment_id}/{filename}", None, {}, url=url)
        if url not in self.cdn:
            return await self._answer(request, Answer(404, "Not Found", via=False), {})
        await self._record(request, 200)
        return web.Response(body=self.cdn[url], content_type="application/octet-stream")

    async def _unknown(self, http: web.Request) -> web.Response:
        self.unanswered.append(f"{http.method} {http.path}")
        request = Request(http.method, http.path, None, dict(http.query), url=str(http.url))
        return await self._answer(request, Answer(404, {"message": "404: Not Found", "code": 0}), {})

    # -- routes ---------------------------------------------------------------------------------------

    async def _me(self, call: _Call) -> Payload:
        return self.bot_user

    async def _application(self, call: _Call) -> Payload:
        owner = {**self.bot_user, "id": str(self.next_id()), "username": "owner", "bot": False}
        return {
            "id": str(self.application_id), "name": "variet", "description": "", "icon": None,
            "bot_public": False, "bot_require_code_grant": False, "owner": owner, "verify_key": "k",
            "flags": 0, "bot": self.bot_user,
        }  # fmt: skip

    async def _sync_commands(self, call: _Call) -> list[Payload]:
        commands = call.json if isinstance(call.json, list) else []
        return [
            {**command, "id": str(self.next_id()), "application_id": str(self.application_id), "version": "1"}
            for command in commands
        ]

    async def _typing(self, call: _Call) -> None:
        return None

    async def _history(self, call: _Call) -> list[Payload]:
        channel_id = call.match["channel_id"]
        before = int(call.params.get("before", 1 << 63))
        # Ephemeral messages are seen only by their recipient, never in a channel's history.
        older = [
            m
            for i, m in self.messages.items()
            if m["channel_id"] == channel_id and i < before and not int(m["flags"]) & _EPHEMERAL
        ]
        older.sort(key=lambda m: int(m["id"]), reverse=True)
        return older[: int(call.params.get("limit", 50))]

    async def _create_message(self, call: _Call) -> Payload:
        return self._bot_message(int(call.match["channel_id"]), call)

    def _bot_message(
        self, channel_id: int, call: _Call, interaction: "_Interaction | None" = None
    ) -> Payload:
        body = call.json or {}
        reference = body.get("message_reference")
        data = self.message_payload(
            channel_id,
            self.bot_user,
            body.get("content") or "",
            reply_to=int(reference["message_id"]) if reference else None,
            # A command's answers are CHAT_INPUT_COMMAND messages (message#message-object-message-types).
            kind=_COMMAND_ANSWER if interaction is not None and interaction.kind == 2 else None,
        )
        if interaction is not None:
            data["interaction_metadata"] = interaction.metadata()
        data["flags"] = body.get("flags", 0)
        data["components"] = body.get("components", [])
        data["attachments"] = [
            {"id": str(self.next_id()), "filename": name, "size": 1, "url": "u", "proxy_url": "u"}
            for name in call.files
        ]
        return data

    async def _get_message(self, call: _Call) -> Payload:
        message = self.messages.get(int(call.match["message_id"]))
        if message is None:
            raise _Refused(unknown_message())
        return message

    async def _edit_message(self, call: _Call) -> Payload:
        return self._edit(int(call.match["message_id"]), call.json or {})

    def _edit(self, message_id: int, body: Payload) -> Payload:
        message = self.messages.get(message_id)
        if message is None:
            raise _Refused(unknown_message())
        for key in ("content", "flags", "components"):
            if key in body:
                message[key] = body[key]
        message["edited_timestamp"] = "2026-11-26T22:00:01+00:00"
        return message

    async def _delete_message(self, call: _Call) -> None:
        if self.messages.pop(int(call.match["message_id"]), None) is None:
            raise _Refused(unknown_message())

    def _interaction(self, call: _Call) -> _Interaction:
        interaction = self._interactions.get(call.match["webhook_token"])
        if interaction is None:
            raise _Refused(Answer(404, {"message": "Unknown interaction", "code": 10062}))
        return interaction

    async def _callback(self, call: _Call) -> Payload:
        interaction = self._interaction(call)
        body = call.json or {}
        kind, data = int(body.get("type", 0)), body.get("data") or {}
        message: Payload | None = None
        if kind in (_CHANNEL_MESSAGE, _DEFERRED_CHANNEL_MESSAGE):
            answer = data if kind == _CHANNEL_MESSAGE else {"flags": data.get("flags", 0)}
            message = self._bot_message(
                interaction.channel_id, _Call({}, answer, {}, call.files), interaction
            )
            interaction.response_id = int(message["id"])
        elif kind == _UPDATE_MESSAGE and interaction.message_id is not None:
            message = self._edit(interaction.message_id, data)
        response: Payload = {
            "interaction": {
                "id": call.match["webhook_id"],
                "type": interaction.kind,
                "response_message_id": str(interaction.response_id) if interaction.response_id else None,
                "response_message_loading": kind == _DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(int(data.get("flags", 0)) & _EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            response["resource"]["message"] = message
        return response

    def _original(self, call: _Call) -> int:
        interaction = self._interaction(call)
        if interaction.response_id is None:
            raise _Refused(Answer(404, {"message": "Unknown Webhook", "code": 10015}))
        return interaction.response_id

    async def _get_original(self, call: _Call) -> Payload:
        return self.messages[self._original(call)]

    async def _edit_original(self, call: _Call) -> Payload:
        return self._edit(self._original(call), call.json or {})

    async def _follow_up(self, call: _Call) -> Payload:
        interaction = self._interaction(call)
        return self._bot_message(interaction.channel_id, call, interaction)

    async def _edit_follow_up(self, call: _Call) -> Payload:
        self._interaction(call)
        return self._edit(int(call.match["message_id"]), call.json or {})


async def _read(http: web.Request) -> _Call:
    """The JSON body (or multipart `payload_json`), the query and the uploaded file names."""
    body: Payload | None = None
    files: list[str] = []
    if http.content_type == "application/json":
        body = await http.json()
    elif http.content_type == "multipart/form-data":
        reader = await http.multipart()
        async for part in reader:
            if part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.filename:
                files.append(part.filename)
                await part.read()
    return _Call(dict(http.match_info), body, dict(http.query), files)
