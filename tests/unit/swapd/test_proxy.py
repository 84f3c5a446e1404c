"""The upstream exchange: one transparent retry when a connection fails before any response byte; the
relay of an SSE body to the client, straight or through the server's `send`."""

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from conftest import CountingPool, exchanged
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Message

from swapd.driver import Ticket
from swapd.errors import TierUnavailable, UpstreamUnavailable
from swapd.proxy import Call, Exchange, Reply, relay
from swapd.upstream import Connection, Pool

pytestmark = pytest.mark.anyio
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
CHAT = Call("POST", "/v1/chat/completions", b"{}")


@asynccontextmanager
async def upstream(failures: int, how: str) -> AsyncIterator[str]:
    """A loopback llama-server stand-in whose first `failures` requests end without an answer:
    `closed` hangs up cleanly (a stale keep-alive), `reset` aborts with an RST."""
    seen = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        await reader.readuntil(b"\r\n\r\n")
        seen += 1
        if seen <= failures and how == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif seen > failures:
            writer.write(ANSWER)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("how", ["refused", "closed", "reset"])
async def test_a_failure_before_any_byte_is_retried_once(how: str) -> None:
    pool = CountingPool(refusals=1 if how == "refused" else 0)
    async with upstream(0 if how == "refused" else 1, how) as url:
        outcome = await exchanged(pool, url, CHAT)
        pool.close()
    assert pool.attempts == 2
    assert outcome.head is not None and outcome.head.status == 200
    assert outcome.error is None


async def test_a_second_failure_is_reported_not_retried_again() -> None:
    pool = CountingPool(refusals=2)
    async with upstream(0, "closed") as url:
        outcome = await exchanged(pool, url, CHAT)
        pool.close()
    assert pool.attempts == 2
    assert outcome.head is None and not outcome.body
    assert isinstance(outcome.error, UpstreamUnavailable)
    assert "tier 'fast' did not answer" in str(outcome.error)


async def test_a_forced_cancel_ends_the_exchange_with_a_clear_error() -> None:
    started = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        started.set()
        await reader.read()  # never answers; returns once swapd closes the connection
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        pool = Pool()
        ticket = Ticket(1, "fast", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        exchange = Exchange(pool, ticket, Call("GET", "/props"))
        pending = asyncio.create_task(exchange.head())
        await started.wait()
        ticket.cancel("cancelled by a forced swap to 'deep'; retry the request")
        with pytest.raises(TierUnavailable, match="forced swap to 'deep'"):
            await pending
        exchange.close()
        pool.close()


class Upstream(asyncio.Transport):
    """Stands in for the socket under the upstream Connection: takes the request, does nothing else."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Client(asyncio.WriteTransport):
    """Stands in for the client's socket under uvicorn: unframes what DirectBody writes into `out`;
    before each write the test says whether bytes are still queued for the client."""

    def __init__(self, behind: Iterator[bool], out: list[bytes]) -> None:
        super().__init__()
        self._behind = behind
        self._out = out

    def get_write_buffer_size(self) -> int:
        return 1 if next(self._behind, False) else 0

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        size, _, rest = bytes(data).partition(b"\r\n")
        assert rest.endswith(b"\r\n") and int(size, 16) == len(rest) - 2, data
        self._out.append(rest[:-2])


@given(
    events=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=600), max_size=10),
    behind=st.lists(st.booleans(), max_size=30),
    slow=st.lists(st.booleans(), max_size=30),
)
def test_the_relayed_body_reaches_the_client_whole_and_in_order(
    events: list[bytes], cuts: list[int], behind: list[bool], slow: list[bool]
) -> None:
    """Bytes go straight to the client while it keeps up, and through `send` (which may wait for a
    slow client while more arrives) when it does not; the client gets every byte once, in order."""
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    points = sorted({c % len(body) for c in cuts} - {0})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]

    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        out: list[bytes] = []
        waits = iter(slow)

        async def send(message: Message) -> None:
            if message["type"] != "http.response.body":
                return
            if next(waits, False):  # the server waits a loop turn for the client; more may arrive
                turn = loop.create_future()
                loop.call_soon(turn.set_result, None)
                await turn
            out.append(message["body"])

        conn = Connection(("127.0.0.1", 1), lambda _: None)
        conn.connection_made(Upstream())
        conn.send(b"POST /v1/chat/completions HTTP/1.1\r\n\r\n")
        conn.data_received(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        reply = Reply(send, Client(iter(behind), out))
        await reply.start(200, [])

        def arrive(i: int) -> None:  # one piece per loop turn, between the relay's steps
            conn.data_received(pieces[i])
            if i + 1 < len(pieces):
                loop.call_soon(arrive, i + 1)

        loop.call_soon(arrive, 0)
        await relay(conn, reply)
        return out

    assert b"".join(asyncio.run(scenario())) == b"".join(events)
