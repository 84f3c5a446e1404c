"""HTTP/1.1 to llama-server on loopback for the proxy: raw asyncio connections, parsed by httptools.

The proxy's hot path, kept off httpx (which still serves health polls, slots and metrics): httpx
builds URL, header and request objects for every call and parses every chunk in pure Python (h11),
and on a CPU-only host that time is taken from llama-server's own threads (docs/benchmarks.md). Here
a request is one write and a chunk one C parse, relayed as it arrives.
"""

import asyncio
from collections.abc import Callable
from typing import cast

import httptools

CONNECT_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 60.0
# Response bytes held for a slow client before reading from llama-server pauses (and so does it).
HIGH_WATER = 1 << 20
IDLE_PER_ADDRESS = 64
# Addresses remembered as closing finished connections (one per tier or companion started lately).
CLOSING_REMEMBERED = 16


class NoAnswer(Exception):
    """No whole response head came back (connect failed, connection closed or garbled): safe to resend."""


class BrokenOff(Exception):
    """The connection ended, or stopped making sense, in the middle of a response body."""


class Connection(asyncio.Protocol):
    """One keep-alive connection to a llama-server, carrying one exchange at a time."""

    def __init__(self, address: tuple[str, int], on_lost: Callable[["Connection"], None]) -> None:
        self.address = address
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self.closed = False
        self.served = False  # an exchange completed on it
        self.hung_up = False  # the upstream closed it, not swapd
        self._busy = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self._head_done = False
        self._done = False
        self._keep_alive = False
        self._delimited = False  # a content-length or chunked body; otherwise the close ends it
        self._body: list[bytes] = []
        self._buffered = 0
        self._reading_paused = False
        self._failure: str | None = None
        # Takes body bytes as they are parsed, when it can (True); what it refuses waits for `take`.
        self.sink: Callable[[bytes], bool] | None = None

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # nothing is owed on an idle connection; do not reuse it
            self.close()
            return
        try:
            self._parser.feed_data(data)  # the callbacks below wake the waiter when it has news
        except httptools.HttpParserError as exc:
            self._fail(f"malformed response from llama-server: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.hung_up = not self.closed
        self.closed = True
        if self._busy and not self._done:
            if self._head_done and not self._delimited:
                self._done = True
            elif self._failure is None:
                self._failure = "connection closed" if exc is None else f"connection lost: {exc}"
        self._write_paused = False
        self._wake()
        self._on_lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # --- httptools callbacks --------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self.headers.append((name, value))
        if name in (b"content-length", b"transfer-encoding"):
            self._delimited = True

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if not self._body and self.sink is not None and self.sink(body):
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        self._done = True
        self._wake()

    # --- the exchange -----------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
        self.close()
        self._wake()

    def send(self, request: bytes) -> None:
        """Write one whole request; `head` then waits for its answer."""
        assert self._transport is not None and not self._busy
        self._busy = True
        self._transport.write(request)

    async def head(self) -> None:
        """Wait until the response head has arrived (status, headers); NoAnswer if none comes."""
        if self._write_paused:
            try:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await self._until(lambda: not self._write_paused)
            except TimeoutError:
                self._fail(f"llama-server did not read the request within {WRITE_TIMEOUT_S:g}s")
        await self._until(lambda: self._head_done or self._failure is not None)
        if not self._head_done:
            raise NoAnswer(self._failure)

    def take(self) -> bytes | None:
        """The body bytes that arrived since the last take; b'' once the body is complete; None while
        nothing new has come (await `changed()`); BrokenOff if the body cannot complete."""
        if self._body:
            data = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            self._body.clear()
            self._buffered = 0
            if self._reading_paused and self._transport is not None:
                self._reading_paused = False
                self._transport.resume_reading()
            return data
        if self._done:
            return b""
        if self._failure is not None:
            raise BrokenOff(self._failure)
        return None

    def changed(self) -> "asyncio.Future[None]":
        """Resolves when body bytes wait for `take`, the body completes or the connection fails."""
        self._waiter = self._loop.create_future()
        return self._waiter

    async def read(self) -> bytes:
        """The body bytes that arrived since the last read, at least one; b'' once the body is complete."""
        while (data := self.take()) is None:
            await self.changed()
        return data

    @property
    def finished(self) -> bool:
        """The exchange ended with a whole response."""
        return self._done and self._failure is None

    @property
    def reusable(self) -> bool:
        return self._done and self._keep_alive and not self.closed and self._failure is None

    def reset(self) -> None:
        """Ready for the next exchange, after a complete one."""
        self.served = True
        self._busy = False
        self.status = 0
        self.headers = []
        self._head_done = self._done = self._keep_alive = self._delimited = False
        self.sink = None
        self._body.clear()
        self._buffered = 0
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()

    def close(self) -> None:
        """Closing mid-response is how llama-server learns to stop generating."""
        self.closed = True
        if self._busy and not self._done and self._failure is None:
            self._failure = "closed by swapd"
        if self._transport is not None:
            self._transport.abort()


class Pool:
    """Keep-alive connections by llama-server address; closed by the app's lifespan.

    llama-server closes the connection after each streamed answer (while its head says keep-alive),
    so a chat would wait for a connect before its request leaves, or meet the close and be resent.
    Once an address has closed a connection the pool kept, the pool keeps no more of its finished
    connections: it replaces each at once with a new one, connected ahead of the next request.
    """

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._ahead: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._closing: dict[tuple[str, int], None] = {}  # insertion-ordered set, oldest dropped
        self._closed = False

    async def connection(self, host: str, port: int, fresh: bool = False) -> Connection:
        """An idle connection to that address unless `fresh`, or a new one; NoAnswer if it cannot connect."""
        address = (host, port)
        if not fresh and (idle := self._idle.get(address)):
            conn = idle.pop()
            if not idle:
                del self._idle[address]
            return conn
        return await self._connect(address)

    async def _connect(self, address: tuple[str, int]) -> Connection:
        loop = asyncio.get_running_loop()
        host, port = address
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, conn = await loop.create_connection(lambda: Connection(address, self._forget), host, port)
        except (OSError, TimeoutError) as exc:
            raise NoAnswer(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc
        return conn

    def give_back(self, conn: Connection) -> None:
        """Keep a connection whose exchange ended cleanly; close any other."""
        idle = self._idle.setdefault(conn.address, [])
        if conn.reusable and conn.address not in self._closing and len(idle) < IDLE_PER_ADDRESS:
            conn.reset()
            idle.append(conn)
            return
        if not idle:
            del self._idle[conn.address]
        conn.close()
        if conn.finished:
            self._connect_ahead(conn.address)

    def _forget(self, conn: Connection) -> None:
        """A closed connection leaves the pool (llama-server hung up, or its tier was swapped out).
        One it had kept, hung up by the upstream while idle or under its next request, teaches it
        that this upstream closes finished connections."""
        idle = self._idle.get(conn.address)
        if idle is not None and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[conn.address]
        if conn.served and conn.hung_up and not self._closed:
            self._closing[conn.address] = None
            if len(self._closing) > CLOSING_REMEMBERED:
                del self._closing[next(iter(self._closing))]
            self._connect_ahead(conn.address)

    def _connect_ahead(self, address: tuple[str, int]) -> None:
        if not self._closed and address not in self._idle and address not in self._ahead:
            self._ahead[address] = asyncio.create_task(self._keep_one(address))

    async def _keep_one(self, address: tuple[str, int]) -> None:
        try:
            conn = await self._connect(address)
        except NoAnswer:
            self._closing.pop(address, None)
            return  # that llama-server is gone; the next request connects (or fails) itself
        finally:
            del self._ahead[address]
        if conn.closed or self._closed:
            conn.close()
        else:
            self._idle.setdefault(address, []).append(conn)

    def close(self) -> None:
        self._closed = True
        for task in list(self._ahead.values()):
            task.cancel()
        for idle in list(self._idle.values()):
            for conn in list(idle):
                conn.close()
        self._idle.clear()
