"""The control-event stream as swapd writes it (swapd.control.sse), however the bytes arrive."""

import asyncio
from collections.abc import AsyncIterator

import httpx
from hypothesis import given
from hypothesis import strategies as st

from assistant.chat import describe_state
from assistant.swapd_control import SwapDone, TierState, parse_events
from swapd.control import sse
from swapd.events import Message

STATES = [
    Message("state", {"tier": "deep", "state": "starting", "phase": "load", "progress": 0.4, "message": ""}),
    Message("state", {"tier": "deep", "state": "ready", "phase": None, "progress": None, "message": ""}),
    Message(
        "swap",
        {"from": "fast", "to": "deep", "took_s": 41.2, "phases": {"load": 30.0}, "ok": True, "error": None},
    ),
]
WIRE = b"".join(sse(m) for m in STATES) + b": ping\n\n"


async def chunks(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    for start, stop in zip([0, *cuts], [*cuts, len(data)], strict=True):
        yield data[start:stop]


@given(st.lists(st.integers(0, len(WIRE)), max_size=10).map(sorted))
def test_events_parse_whatever_the_chunking(cuts: list[int]) -> None:
    async def go() -> list[object]:
        response = httpx.Response(200, content=chunks(WIRE, cuts))
        return [event async for event in parse_events(response)]

    events = asyncio.run(go())
    assert events == [
        TierState(tier="deep", state="starting", phase="load", progress=0.4, message=""),
        TierState(tier="deep", state="ready", phase=None, progress=None, message=""),
        SwapDone(to="deep", took_s=41.2, ok=True, error=None),
    ]


def test_state_events_read_as_progress() -> None:
    loading = TierState(tier="deep", state="starting", phase="load", progress=0.4)
    assert describe_state(loading) == "loading deep: load 40%"
    assert describe_state(TierState(tier="fast", state="ready")) == "fast is ready"
    assert describe_state(
        TierState(tier="fast", state="stopping", message="stopping fast", phase="stop")
    ) == ("stopping fast: stop")
