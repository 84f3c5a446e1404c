"""The proxy's upstream client: response parsing across any split, keep-alive reuse, broken answers."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from conftest import CountingPool, exchanged
from hypothesis import given
from hypothesis import strategies as st

from swapd.errors import UpstreamUnavailable
from swapd.proxy import Call
from swapd.upstream import HIGH_WATER, Connection, Pool

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
        self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


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


def test_reading_pauses_past_the_high_water_mark_and_resumes_once_taken() -> None:
    """A slow client holds llama-server back: past 1 MiB unread, swapd stops reading its socket."""
    event = b"data: " + b"x" * 1000 + b"\n\n"

    async def scenario() -> tuple[int, bool, int, bool]:
        conn = Connection(("127.0.0.1", 1), lambda _: None)
        wire = Wire()
        conn.connection_made(wire)
        conn.send(b"POST /v1/chat/completions HTTP/1.1\r\n\r\n")
        conn.data_received(chunked([])[: -len(b"0\r\n\r\n")])
        await conn.head()
        fed = 0
        while not wire.paused and fed <= 2 * HIGH_WATER:
            conn.data_received(b"%x\r\n%s\r\n" % (len(event), event))
            fed += len(event)
        paused = wire.paused
        taken = conn.take()
        return fed, paused, len(taken or b""), wire.paused

    fed, paused, taken, still_paused = asyncio.run(scenario())
    assert paused and HIGH_WATER < fed <= HIGH_WATER + len(event)
    assert taken == fed and not still_paused


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


@pytest.mark.anyio
async def test_a_finished_connection_is_kept_and_reused() -> None:
    pool = Pool()
    async with upstream(lambda n: chunked([b"data: %d\n\n" % n])) as (url, accepted):
        first = await exchanged(pool, url, CHAT)
        second = await exchanged(pool, url, CHAT)
        pool.close()
    assert first.body == [b"data: 1\n\n"] and first.error is None
    assert second.body == [b"data: 2\n\n"] and second.error is None
    assert len(accepted) == 1


@pytest.mark.anyio
async def test_a_body_cut_short_ends_with_a_clear_error_and_is_not_resent() -> None:
    pool = Pool()
    cut = chunked([b"data: 1\n\n", b"data: 2\n\n"])[:-20]
    async with upstream(lambda n: cut) as (url, accepted):
        outcome = await exchanged(pool, url, CHAT)
        pool.close()
    assert outcome.head is not None and outcome.head.status == 200
    assert b"".join(outcome.body).startswith(b"data: 1\n\n")
    assert isinstance(outcome.error, UpstreamUnavailable)
    assert "broke off the response" in str(outcome.error)
    assert len(accepted) == 1


@pytest.mark.anyio
async def test_a_garbled_answer_counts_as_no_answer() -> None:
    pool = Pool()
    async with upstream(lambda n: b"HELLO THERE\r\n\r\n") as (url, accepted):
        outcome = await exchanged(pool, url, CHAT)
        pool.close()
    assert outcome.head is None and not outcome.body
    assert "tier 'fast' did not answer: malformed response" in str(outcome.error)
    assert len(accepted) == 2


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
        first = await exchanged(pool, url, Call("GET", "/props"))
        await until(lambda: len(accepted) == 2, "a second connection with no request on it")
        second = await exchanged(pool, url, Call("GET", "/props"))
        pool.close()
    assert (first.body, first.error) == (second.body, second.error) == ([b"{}"], None)
    assert pool.attempts == 2  # one connection asked for per request: nothing was resent


@pytest.mark.anyio
async def test_after_an_upstream_dropped_a_kept_connection_no_request_is_resent() -> None:
    pool = CountingPool()
    async with one_answer_per_connection("drop") as (url, _):
        answers = [await exchanged(pool, url, Call("GET", "/props")) for _ in range(4)]
        pool.close()
    assert all((outcome.body, outcome.error) == ([b"{}"], None) for outcome in answers)
    # The second request met the dropped keep-alive and was resent once; from then on the pool
    # keeps no finished connection of that upstream, so the third and fourth went through at once.
    assert pool.attempts == 5
