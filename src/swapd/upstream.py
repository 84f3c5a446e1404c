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

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # nothing is owed on an idle connection; do not reuse it
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"malformed response from llama-server: {exc}")
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
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

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        self._done = True

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

    async def read(self) -> bytes:
        """The body bytes that arrived since the last read, at least one; b'' once the body is complete."""
        await self._until(lambda: bool(self._body) or self._done or self._failure is not None)
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
        raise BrokenOff(self._failure)

    @property
    def reusable(self) -> bool:
        return self._done and self._keep_alive and not self.closed and self._failure is None

    def reset(self) -> None:
        """Ready for the next exchange, after a complete one."""
        self._busy = False
        self.status = 0
        self.headers = []
        self._head_done = self._done = self._keep_alive = self._delimited = False
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
    """Idle keep-alive connections by llama-server address; closed by the app's lifespan."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}

    async def connection(self, host: str, port: int, fresh: bool = False) -> Connection:
        """An idle connection to that address unless `fresh`, or a new one; NoAnswer if it cannot connect."""
        address = (host, port)
        if not fresh and (idle := self._idle.get(address)):
            conn = idle.pop()
            if not idle:
                del self._idle[address]
            return conn
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, conn = await loop.create_connection(lambda: Connection(address, self._forget), host, port)
        except (OSError, TimeoutError) as exc:
            raise NoAnswer(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc
        return conn

    def give_back(self, conn: Connection) -> None:
        """Keep a connection whose exchange ended cleanly; close any other."""
        idle = self._idle.setdefault(conn.address, [])
        if conn.reusable and len(idle) < IDLE_PER_ADDRESS:
            conn.reset()
            idle.append(conn)
        else:
            conn.close()

    def _forget(self, conn: Connection) -> None:
        """A closed connection leaves the pool (llama-server hung up, or its tier was swapped out)."""
        idle = self._idle.get(conn.address)
        if idle is not None and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[conn.address]

    def close(self) -> None:
        for idle in list(self._idle.values()):
            for conn in list(idle):
                conn.close()
        self._idle.clear()
