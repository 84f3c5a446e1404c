"""The proxy's upstream client: response parsing across any split, keep-alive reuse, broken answers."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swapd.driver import Ticket
from swapd.errors import UpstreamUnavailable
from swapd.proxy import Call, Exchange, Head, Stop
from swapd.upstream import Connection, Pool

CHAT = Call("POST", "/v1/chat/completions", b'{"stream": true}')


def chunked(events: list[bytes]) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    return head + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"


class Wire(asyncio.Transport):
    """Stands in for the socket under one Connection: records what was written and whether it closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@given(
    events=st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=12),
)
def test_any_split_of_a_chunked_answer_yields_the_same_body(events: list[bytes], cuts: list[int]) -> None:
    wire_bytes = chunked(events)
    points = sorted({c % len(wire_bytes) for c in cuts} - {0})
    pieces = [wire_bytes[a:b] for a, b in zip([0, *points], [*points, len(wire_bytes)], strict=True)]

    async def scenario() -> tuple[int, bytes, bool]:
        conn = Connection(("127.0.0.1", 1), lambda _: None)
        wire = Wire()
        conn.connection_made(wire)
        conn.send(b"GET /props HTTP/1.1\r\n\r\n")
        for piece in pieces:
            conn.data_received(piece)
        await conn.head()
        body = b""
        while data := await conn.read():
            body += data
        return conn.status, body, conn.reusable

    status, body, reusable = asyncio.run(scenario())
    assert (status, body, reusable) == (200, b"".join(events), True)


@asynccontextmanager
async def upstream(answer: Callable[[int], bytes | None]) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server: request n (from 1) on any connection gets `answer(n)`, then the connection is
    closed if that was None or ended short. Yields the URL and the connections accepted so far."""
    accepted: list[int] = []
    requests = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        accepted.append(len(accepted) + 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next((int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length")), 0)
                await reader.readexactly(length)
                requests += 1
                reply = answer(requests)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if not reply.endswith(b"0\r\n\r\n") and b"content-length" not in reply:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", accepted


async def items_of(pool: Pool, url: str, call: Call = CHAT) -> list[object]:
    exchange = Exchange(pool, Ticket(1, "fast", url), call)
    items: list[object] = []
    try:
        while not isinstance(item := await exchange.next(), Stop):
            items.append(item)
        items.append(item)
    finally:
        exchange.close()
    return items


@pytest.mark.anyio
async def test_a_finished_connection_is_kept_and_reused() -> None:
    pool = Pool()
    async with upstream(lambda n: chunked([b"data: %d\n\n" % n])) as (url, accepted):
        first = await items_of(pool, url)
        second = await items_of(pool, url)
        pool.close()
    assert first[1:] == [b"data: 1\n\n", Stop()] and second[1:] == [b"data: 2\n\n", Stop()]
    assert len(accepted) == 1


@pytest.mark.anyio
async def test_a_body_cut_short_ends_with_a_clear_error_and_is_not_resent() -> None:
    pool = Pool()
    cut = chunked([b"data: 1\n\n", b"data: 2\n\n"])[:-20]
    async with upstream(lambda n: cut) as (url, accepted):
        items = await items_of(pool, url)
        pool.close()
    assert isinstance(items[0], Head) and items[0].status == 200
    assert b"".join(i for i in items if isinstance(i, bytes)).startswith(b"data: 1\n\n")
    stop = items[-1]
    assert isinstance(stop, Stop) and isinstance(stop.error, UpstreamUnavailable)
    assert "broke off the response" in str(stop.error)
    assert len(accepted) == 1


@pytest.mark.anyio
async def test_a_garbled_answer_counts_as_no_answer() -> None:
    pool = Pool()
    async with upstream(lambda n: b"HELLO THERE\r\n\r\n") as (url, accepted):
        items = await items_of(pool, url)
        pool.close()
    assert len(items) == 1 and isinstance(items[0], Stop)
    assert "tier 'fast' did not answer: malformed response" in str(items[0].error)
    assert len(accepted) == 2


class CountingPool(Pool):
    """The real pool, counting the connections asked of it: a resent request asks twice."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def connection(self, host: str, port: int, fresh: bool = False) -> Connection:
        self.attempts += 1
        return await super().connection(host, port, fresh)


@asynccontextmanager
async def one_answer_per_connection(then: str) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server that answers one request per connection, saying nothing of closing (HTTP/1.1
    keep-alive), as llama-server does for a streamed answer; `then` is `close` (hang up right after
    the answer) or `drop` (hang up without answering when a second request comes on it). Yields the
    URL and the connections accepted so far."""
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(len(accepted) + 1)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()
            if then == "drop":
                await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", accepted


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait for something outside the pool (a server's accept) to happen, up to a deadline."""
    deadline = asyncio.get_running_loop().time() + 10
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.01)


@pytest.mark.anyio
async def test_a_connection_the_upstream_closes_is_replaced_ahead_of_the_next_request() -> None:
    pool = CountingPool()
    async with one_answer_per_connection("close") as (url, accepted):
        first = await items_of(pool, url, Call("GET", "/props"))
        await until(lambda: len(accepted) == 2, "a second connection with no request on it")
        second = await items_of(pool, url, Call("GET", "/props"))
        pool.close()
    assert first[1:] == second[1:] == [b"{}", Stop()]
    assert pool.attempts == 2  # one connection asked for per request: nothing was resent


@pytest.mark.anyio
async def test_after_an_upstream_dropped_a_kept_connection_no_request_is_resent() -> None:
    pool = CountingPool()
    async with one_answer_per_connection("drop") as (url, _):
        answers = [await items_of(pool, url, Call("GET", "/props")) for _ in range(4)]
        pool.close()
    assert all(items[1:] == [b"{}", Stop()] for items in answers)
    # The second request met the dropped keep-alive and was resent once; from then on the pool
    # keeps no finished connection of that upstream, so the third and fourth went through at once.
    assert pool.attempts == 5
