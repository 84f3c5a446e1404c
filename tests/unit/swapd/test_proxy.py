"""The upstream exchange: one transparent retry when a connection fails before any response byte."""

import asyncio

import httpx
import pytest

from swapd.driver import Ticket
from swapd.errors import UpstreamUnavailable
from swapd.proxy import Exchange, Head, Stop

pytestmark = pytest.mark.anyio


def flaky(failures: int, error: type[httpx.TransportError]) -> tuple[httpx.MockTransport, list[int]]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= failures:
            raise error("the upstream closed this keep-alive connection", request=request)
        return httpx.Response(
            200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(b"{}")
        )

    return httpx.MockTransport(handler), calls


async def run_exchange(transport: httpx.MockTransport) -> list[object]:
    async with httpx.AsyncClient(transport=transport) as client:
        url = "http://127.0.0.1:1/v1/chat/completions"
        exchange = Exchange(
            client, Ticket(1, "fast", ""), lambda: client.build_request("POST", url, content=b"{}")
        )
        items: list[object] = []
        try:
            while not isinstance(item := await exchange.next(), Stop):
                items.append(item)
            items.append(item)
        finally:
            exchange.cancel()
            await exchange.closed()
        return items


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError])
async def test_a_failure_before_any_byte_is_retried_once(error: type[httpx.TransportError]) -> None:
    transport, calls = flaky(1, error)
    items = await run_exchange(transport)
    assert len(calls) == 2
    assert isinstance(items[0], Head) and items[0].response.status_code == 200
    assert items[-1] == Stop()


async def test_a_second_failure_is_reported_not_retried_again() -> None:
    transport, calls = flaky(2, httpx.ConnectError)
    items = await run_exchange(transport)
    assert len(calls) == 2
    assert len(items) == 1 and isinstance(items[0], Stop)
    assert isinstance(items[0].error, UpstreamUnavailable)
    assert "tier 'fast' did not answer" in str(items[0].error)


async def test_a_forced_cancel_ends_the_exchange_with_a_clear_error() -> None:
    started = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
        ticket = Ticket(1, "fast", "http://127.0.0.1:1")
        exchange = Exchange(client, ticket, lambda: client.build_request("GET", "http://127.0.0.1:1/props"))
        await started.wait()
        ticket.cancel("cancelled by a forced swap to 'deep'; retry the request")
        item = await exchange.next()
        exchange.cancel()
        await exchange.closed()
    assert isinstance(item, Stop) and item.error is not None
    assert "forced swap to 'deep'" in str(item.error)
