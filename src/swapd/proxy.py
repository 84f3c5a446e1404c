"""The OpenAI-compatible passthrough on the LAN port: key check, admission, streaming, disconnects.

Only a fixed list of paths is proxied, and the upstream path is always the route's own, never the
client's, so no path trick reaches another llama-server endpoint. SSE is relayed chunk by chunk as
llama-server writes it. One queue per exchange carries upstream chunks, the client's disconnect and
a forced-swap cancel, so the relay loop reacts to whichever comes first without a task per chunk.
"""

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from swapd.config import Config
from swapd.driver import Ticket
from swapd.errors import (
    BadRequest,
    PayloadTooLarge,
    SwapdError,
    TierUnavailable,
    Unauthorized,
    UpstreamUnavailable,
)
from swapd.logs import line
from swapd.metrics import Metrics

log = logging.getLogger(__name__)

# Path -> method. /slots is read-only here: saving and restoring slots is swapd's business.
PROXIED: dict[str, str] = {
    "/v1/chat/completions": "POST",
    "/v1/completions": "POST",
    "/v1/embeddings": "POST",
    "/infill": "POST",
    "/tokenize": "POST",
    "/detokenize": "POST",
    "/props": "GET",
    "/slots": "GET",
}
# Errors on a connection that fail before any response byte; retried once (e.g. a stale keep-alive).
RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
SSE = "text/event-stream"


def envelope(exc: SwapdError) -> dict[str, object]:
    return {"error": {"message": str(exc), "type": exc.error_type, "code": exc.status, "source": "swapd"}}


def error_response(exc: SwapdError) -> JSONResponse:
    headers = {}
    if isinstance(exc, TierUnavailable) and exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(envelope(exc), status_code=exc.status, headers=headers)


def check_bearer(request: Request, accepted: Sequence[str]) -> None:
    """Constant-time check of `Authorization: Bearer <token>` against the accepted tokens."""
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    ok = False
    for candidate in accepted:
        ok |= scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), candidate.encode())
    if not ok:
        raise Unauthorized("missing or wrong API key; send `Authorization: Bearer <key>`")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is over the {limit} byte limit")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def model_field(body: bytes) -> str | None:
    """The `model` field of a JSON object body; BadRequest for anything that is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("`model` must be a string: a tier or companion name, an alias or 'auto'")
    return model


class Gate(Protocol):
    """Admission to an upstream: the swap driver for tiers, `Companions` for companions."""

    async def admit(self, name: str | None) -> Ticket: ...

    def release(self, ticket: Ticket) -> None: ...


@dataclass(frozen=True)
class Head:
    response: httpx.Response


@dataclass(frozen=True)
class Stop:
    """The exchange ends: upstream finished (error None), upstream broke, or a forced swap cancelled it."""

    error: SwapdError | None = None


Item = Head | bytes | Stop


class Exchange:
    """One upstream call, run by a pump task that this object owns; `cancel` and `closed` reap it."""

    def __init__(
        self, client: httpx.AsyncClient, ticket: Ticket, request: Callable[[], httpx.Request]
    ) -> None:
        self.ticket = ticket
        self._client = client
        self._request = request  # built afresh for the retry: a sent request's stream may be spent
        # Unbounded on purpose: llama-server's output is bounded by max_tokens and read as it comes.
        self._items: asyncio.Queue[Item] = asyncio.Queue()
        self._pump = asyncio.create_task(self._run())
        ticket.on_cancel(lambda message: self._items.put_nowait(Stop(TierUnavailable(message))))

    async def _send(self) -> httpx.Response:
        try:
            return await self._client.send(self._request(), stream=True)
        except RETRYABLE as exc:
            log.info(line("upstream.retry", tier=self.ticket.tier, error=type(exc).__name__))
        try:
            return await self._client.send(self._request(), stream=True)
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise UpstreamUnavailable(
                f"llama-server for {self.ticket.kind} {self.ticket.tier!r} did not answer: {exc}"
            ) from exc

    async def _run(self) -> None:
        try:
            response = await self._send()
        except UpstreamUnavailable as exc:
            self._items.put_nowait(Stop(exc))
            return
        try:
            self._items.put_nowait(Head(response))
            async for chunk in response.aiter_raw():
                self._items.put_nowait(chunk)
            self._items.put_nowait(Stop())
        except (httpx.HTTPError, httpx.StreamError) as exc:
            self._items.put_nowait(Stop(UpstreamUnavailable(f"llama-server broke off the response: {exc}")))
        finally:
            await response.aclose()

    async def next(self) -> Item:
        return await self._items.get()

    def cancel(self) -> None:
        """Stop the upstream call; closing its connection makes llama-server stop generating."""
        self._pump.cancel()

    async def closed(self) -> None:
        await asyncio.wait([self._pump])


class Relay(Response):
    """Admission, the upstream call and the reply, raced against the client going away.

    The client's disconnect cancels the whole serve task: a queued request leaves the queue, an
    upstream call is closed, and the ticket is released in `finally`.
    """

    def __init__(
        self, proxy: "Proxy", gate: Gate, name: str | None, upstream: Callable[[str], httpx.Request]
    ) -> None:
        super().__init__()
        self._proxy = proxy
        self._gate = gate
        self._name = name  # the tier (None: the active one) or the companion
        self._upstream = upstream
        self._served_by = "none"
        self._companion = False
        self._status = 499  # nginx's "client closed request", kept if nothing was sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._status = message["status"]
            await send(message)

        serve = asyncio.create_task(self._serve(scope, receive, sending))
        watcher = asyncio.create_task(self._watch_disconnect(receive))
        try:
            await asyncio.wait([serve, watcher], return_when=asyncio.FIRST_COMPLETED)
        finally:
            serve.cancel()
            watcher.cancel()
            await asyncio.wait([serve, watcher])
            self._proxy.metrics.request_done(
                self._served_by, self._status, time.monotonic() - started, self._companion
            )
        if not serve.cancelled() and (exc := serve.exception()) is not None:
            raise exc

    @staticmethod
    async def _watch_disconnect(receive: Receive) -> None:
        message: Message = {"type": ""}
        while message["type"] != "http.disconnect":
            message = await receive()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self._gate
        try:
            ticket = await gate.admit(self._name)
        except SwapdError as exc:
            await error_response(exc)(scope, receive, send)
            return
        self._served_by = ticket.tier
        self._companion = ticket.kind == "companion"
        try:
            exchange = Exchange(self._proxy.client, ticket, lambda: self._upstream(ticket.upstream))
        except BaseException:
            gate.release(ticket)
            raise
        try:
            first = await exchange.next()
            if isinstance(first, Stop):
                await error_response(first.error or UpstreamUnavailable("no answer"))(scope, receive, send)
            elif isinstance(first, Head) and first.response.headers.get("content-type", "").startswith(SSE):
                await self._stream(exchange, first.response, send)
            elif isinstance(first, Head):
                await self._whole(exchange, first.response, scope, receive, send)
        finally:
            # Cancel and release before the first await: this cleanup may itself be cancelled when the
            # client's disconnect (or the end of the response) wakes the watcher first.
            exchange.cancel()
            gate.release(ticket)
            await exchange.closed()

    @staticmethod
    def _reply_headers(ticket: Ticket, head: httpx.Response) -> list[tuple[bytes, bytes]]:
        headers = [(f"x-swapd-{ticket.kind}".encode(), ticket.tier.encode())]
        if content_type := head.headers.get("content-type"):
            headers.append((b"content-type", content_type.encode()))
        return headers

    async def _stream(self, exchange: Exchange, head: httpx.Response, send: Send) -> None:
        headers = [
            *self._reply_headers(exchange.ticket, head),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await send({"type": "http.response.start", "status": head.status_code, "headers": headers})
        while not isinstance(item := await exchange.next(), Stop):
            if isinstance(item, bytes):
                await send({"type": "http.response.body", "body": item, "more_body": True})
        if item.error is not None:
            log.info(line("request.broken", tier=exchange.ticket.tier, error=item.error))
            event = json.dumps(envelope(item.error))
            await send(
                {"type": "http.response.body", "body": f"data: {event}\n\n".encode(), "more_body": True}
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _whole(
        self, exchange: Exchange, head: httpx.Response, scope: Scope, receive: Receive, send: Send
    ) -> None:
        chunks = []
        while not isinstance(item := await exchange.next(), Stop):
            if isinstance(item, bytes):
                chunks.append(item)
        if item.error is not None:
            await error_response(item.error)(scope, receive, send)
            return
        body = b"".join(chunks)
        headers = [*self._reply_headers(exchange.ticket, head), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": head.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


class Proxy:
    def __init__(
        self,
        config: Config,
        driver: Gate,
        companions: Gate,
        client: httpx.AsyncClient,
        api_keys: Sequence[str],
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.driver = driver
        self.companions = companions
        self.client = client
        self.metrics = metrics
        self._api_keys = tuple(api_keys)

    def authorize(self, request: Request) -> None:
        if self._api_keys:
            check_bearer(request, self._api_keys)

    def route(self, model: str | None) -> tuple[Gate, str | None]:
        """Which gate admits a request for `model`: its companion's, or the swap driver's for a tier."""
        if (companion := self.config.companion_for(model)) is not None:
            return self.companions, companion.name
        return self.driver, self.config.resolve(model)

    async def handle(self, request: Request) -> Response:
        """Validate everything before queueing: auth, size, JSON, tier; then hand over to a Relay."""
        self.authorize(request)
        path = request.url.path
        if request.method == "POST":
            body = await read_body(request, self.config.max_body_bytes)
            gate, name = self.route(model_field(body))
            headers = {"content-type": "application/json"}
            return Relay(
                self,
                gate,
                name,
                lambda base: self.client.build_request("POST", base + path, content=body, headers=headers),
            )
        gate, name = self.route(request.query_params.get("model"))
        params = httpx.QueryParams([(k, v) for k, v in request.query_params.multi_items() if k != "model"])
        return Relay(
            self, gate, name, lambda base: self.client.build_request("GET", base + path, params=params)
        )
