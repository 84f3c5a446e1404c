"""The OpenAI-compatible passthrough on the LAN port: key check, admission, streaming, disconnects.

Only a fixed list of paths is proxied, and the upstream path is always the route's own, never the
client's, so no path trick reaches another llama-server endpoint. `Proxy` is a bare ASGI app that
app.py's front door calls for those paths, so the path every token takes is short: each SSE chunk
is written to the client as llama-server's bytes are parsed, with no task woken for it
(docs/decisions/0015-sse-straight-to-the-client.md, issue 16).
"""

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

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
from swapd.upstream import BrokenOff, Connection, NoAnswer, Pool

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
SSE = b"text/event-stream"
# The ASGI extension through which app.HttpProtocol offers a connection's transport.
TRANSPORT = "swapd.transport"


def envelope(exc: SwapdError) -> dict[str, object]:
    return {"error": {"message": str(exc), "type": exc.error_type, "code": exc.status, "source": "swapd"}}


def error_response(exc: SwapdError) -> JSONResponse:
    headers = {}
    if isinstance(exc, TierUnavailable) and exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(envelope(exc), status_code=exc.status, headers=headers)


def check_authorization(given: str, accepted: Sequence[str]) -> None:
    """Constant-time check of an `Authorization: Bearer <token>` value against the accepted tokens."""
    scheme, _, token = given.partition(" ")
    ok = False
    for candidate in accepted:
        ok |= scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), candidate.encode())
    if not ok:
        raise Unauthorized("missing or wrong API key; send `Authorization: Bearer <key>`")


def check_bearer(request: Request, accepted: Sequence[str]) -> None:
    check_authorization(request.headers.get("authorization", ""), accepted)


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


class ClientGone(Exception):
    """The client disconnected before its request body was read."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = header(scope["headers"], b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is over the {limit} byte limit")
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the {limit} byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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
class Call:
    """The request to send upstream, kept whole so that the one retry can send it again."""

    method: str
    target: str  # the route's own path, and for GET the client's query minus `model`
    body: bytes = b""

    def encode(self, host: str, port: int) -> bytes:
        head = f"{self.method} {self.target} HTTP/1.1\r\nhost: {host}:{port}\r\n"
        if self.method == "POST":
            head += f"content-type: application/json\r\ncontent-length: {len(self.body)}\r\n"
        return head.encode() + b"\r\n" + self.body


Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Head:
    status: int
    headers: Headers


class Exchange:
    """One upstream call for an admitted request: `head` waits for the response head, then the body
    is read from `body`.

    A call that gets no response head is sent once more on a fresh connection (a stale keep-alive);
    a forced swap's cancel closes the connection and ends the exchange with its message.
    """

    def __init__(self, pool: Pool, ticket: Ticket, call: Call) -> None:
        self.ticket = ticket
        self._pool = pool
        self._call = call
        address = urlsplit(ticket.upstream)
        self._host, self._port = address.hostname or "127.0.0.1", address.port or 80
        self._conn: Connection | None = None
        self._cancelled: TierUnavailable | None = None
        ticket.on_cancel(self._cancel)

    def _cancel(self, message: str) -> None:
        self._cancelled = TierUnavailable(message)
        if self._conn is not None:
            self._conn.close()

    @property
    def body(self) -> Connection:
        """Where the body comes from, once `head` returned (BrokenOff if it stops short: see `broken`)."""
        assert self._conn is not None
        return self._conn

    def broken(self, exc: BrokenOff) -> SwapdError:
        """Why the body stopped short: a forced swap's message, or the upstream's failure."""
        return self._cancelled or UpstreamUnavailable(f"llama-server broke off the response: {exc}")

    async def head(self) -> Head:
        """The response head; TierUnavailable if a forced swap cancelled the call, UpstreamUnavailable
        if no head came after the one resend."""
        for attempt in (1, 2):
            try:
                self._conn = await self._pool.connection(self._host, self._port, fresh=attempt == 2)
                if self._cancelled is not None:
                    raise self._cancelled
                self._conn.send(self._call.encode(self._host, self._port))
                await self._conn.head()
                return Head(self._conn.status, self._conn.headers)
            except NoAnswer as exc:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                if self._cancelled is not None:
                    raise self._cancelled from None
                if attempt == 2:
                    served = f"{self.ticket.kind} {self.ticket.tier!r}"
                    raise UpstreamUnavailable(f"llama-server for {served} did not answer: {exc}") from exc
                log.info(line("upstream.retry", tier=self.ticket.tier, error=exc))
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Keep the connection if its exchange finished; otherwise close it, so llama-server stops."""
        if self._conn is not None:
            self._pool.give_back(self._conn)
            self._conn = None


class Reply:
    """The client's side of one exchange: the status sent, whether the client is gone, and its
    connection's transport where the server offers it."""

    def __init__(self, send: Send, transport: asyncio.WriteTransport | None = None) -> None:
        self.send = send
        self.transport = transport
        self.status = 499  # nginx's "client closed request", kept if nothing was sent
        self.tier = "none"  # the tier that served once admitted; a companion's name from the start
        self.companion = False
        self.started = False
        self.complete = False
        self.gone = False

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, more: bool) -> None:
        self.complete = not more
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def error(self, exc: SwapdError) -> None:
        response = error_response(exc)
        await self.start(response.status_code, response.raw_headers)
        await self.body(bytes(response.body), False)


def client_transport(scope: Scope) -> asyncio.WriteTransport | None:
    """The client connection's transport, where the server offers it (app.HttpProtocol does)."""
    offered: dict[str, asyncio.WriteTransport] | None = scope.get("extensions", {}).get(TRANSPORT)
    return None if offered is None else offered["transport"]


class DirectBody:
    """Writes SSE chunks to the client's transport from llama-server's data callback, as uvicorn
    would frame them, so a token costs no task wake-up (issue 16, decision 0015).

    It refuses while anything is queued for the client (the client is behind) or while the relay
    is sending through the server's `send`, which waits for a slow client: what it refuses goes
    that way, in order."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport
        self.held = False

    def __call__(self, data: bytes) -> bool:
        if self.held or self._transport.get_write_buffer_size() or self._transport.is_closing():
            return False
        self._transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True


async def relay(upstream: Connection, reply: Reply) -> None:
    """An SSE body to the client as it comes, until it completes (BrokenOff if it cannot): through
    DirectBody where the server offers the client's transport, else (and for what DirectBody
    refuses) through the server's `send`. Call after `reply.start`."""
    # uvicorn chunks a 200 answer that has no content-length; DirectBody writes those frames.
    direct = DirectBody(reply.transport) if reply.transport is not None and reply.status == 200 else None
    upstream.sink = direct
    try:
        while True:
            if (data := upstream.take()) is None:
                await upstream.changed()
            elif not data:
                return
            elif direct is None or not direct(data):
                if direct is not None:
                    direct.held = True
                await reply.send({"type": "http.response.body", "body": data, "more_body": True})
                if direct is not None:
                    direct.held = False
    finally:
        upstream.sink = None


class Proxy:
    def __init__(
        self,
        config: Config,
        driver: Gate,
        companions: Gate,
        pool: Pool,
        api_keys: Sequence[str],
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.driver = driver
        self.companions = companions
        self.pool = pool
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI for the proxied paths: validate everything before queueing, then admission, upstream, reply.

        From admission on, the client's disconnect cancels this task: a queued request leaves the
        queue, the upstream connection is closed (llama-server stops), and the ticket is released.
        """
        reply = Reply(send, client_transport(scope))
        try:
            await self._handle(scope, receive, reply)
        except Exception as exc:  # as Starlette's error middleware did, before this path left it (issue 16)
            log.exception(line("request.internal_error", path=scope["path"]), exc_info=exc)
            if not reply.started:
                await reply.error(SwapdError("internal error in swapd; see its log"))

    async def _handle(self, scope: Scope, receive: Receive, reply: Reply) -> None:
        try:
            (gate, name), call = await self._request(scope, receive)
        except SwapdError as exc:
            await reply.error(exc)
            return
        except ClientGone:
            return
        started = time.monotonic()
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.create_task(self._watch(receive, reply, task))
        try:
            await self._serve(gate, name, call, reply)
        except asyncio.CancelledError:
            if not reply.gone or task.uncancel() > 0:
                raise
        finally:
            watcher.cancel()
            self.metrics.request_done(reply.tier, reply.status, time.monotonic() - started, reply.companion)

    async def _request(self, scope: Scope, receive: Receive) -> tuple[tuple[Gate, str | None], Call]:
        """Everything checked before queueing: the key, the size, the JSON and what the model names."""
        if self._api_keys:
            given = header(scope["headers"], b"authorization") or b""
            check_authorization(given.decode("latin-1"), self._api_keys)
        path: str = scope["path"]
        if scope["method"] == "POST":
            body = await read_body(scope, receive, self.config.max_body_bytes)
            return self.route(model_field(body)), Call("POST", path, body)
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        models = [value for key, value in query if key == "model"]
        rest = [(key, value) for key, value in query if key != "model"]
        target = f"{path}?{urlencode(rest)}" if rest else path
        return self.route(models[-1] if models else None), Call("GET", target)

    @staticmethod
    async def _watch(receive: Receive, reply: Reply, task: "asyncio.Task[object]") -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not reply.complete:
            reply.gone = True
            task.cancel()

    async def _serve(self, gate: Gate, name: str | None, call: Call, reply: Reply) -> None:
        if gate is self.companions and name is not None:  # a refusal counts against the companion too
            reply.tier, reply.companion = name, True
        try:
            ticket = await gate.admit(name)
        except SwapdError as exc:
            await reply.error(exc)
            return
        reply.tier, reply.companion = ticket.tier, ticket.kind == "companion"
        exchange = Exchange(self.pool, ticket, call)
        try:
            head = await exchange.head()
        except SwapdError as exc:
            await reply.error(exc)
        else:
            content_type = header(head.headers, b"content-type")
            headers = [(f"x-swapd-{ticket.kind}".encode(), ticket.tier.encode())]
            if content_type is not None:
                headers.append((b"content-type", content_type))
            if content_type is not None and content_type.startswith(SSE):
                await self._stream(exchange, head, headers, reply)
            else:
                await self._whole(exchange, head, headers, reply)
        finally:
            exchange.close()
            gate.release(ticket)

    @staticmethod
    async def _stream(exchange: Exchange, head: Head, headers: Headers, reply: Reply) -> None:
        headers += [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
        await reply.start(head.status, headers)
        try:
            await relay(exchange.body, reply)
        except BrokenOff as exc:
            error = exchange.broken(exc)
            log.info(line("request.broken", tier=exchange.ticket.tier, error=error))
            await reply.body(f"data: {json.dumps(envelope(error))}\n\n".encode(), True)
        await reply.body(b"", False)

    @staticmethod
    async def _whole(exchange: Exchange, head: Head, headers: Headers, reply: Reply) -> None:
        chunks = []
        try:
            while data := await exchange.body.read():
                chunks.append(data)
        except BrokenOff as exc:
            await reply.error(exchange.broken(exc))
            return
        body = b"".join(chunks)
        await reply.start(head.status, [*headers, (b"content-length", str(len(body)).encode())])
        await reply.body(body, False)
