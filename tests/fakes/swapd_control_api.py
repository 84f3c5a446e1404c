"""swapd's control API as a scripted app on a real loopback port, for front ends' /tier and /status.

Follows docs/architecture.md, "swapd's control API": `GET /swapd/status`, `POST /swapd/swap`
(202, progress on the event stream), `GET /swapd/events` (SSE: `event: state|swap`, `data: <json>`),
the admin token as `Authorization: Bearer`, and swapd's error envelope with `"source": "swapd"`.
A swap replays the scripted `swap_events` to every open event stream.
"""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from localhost import free_port, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Event = tuple[str, dict[str, object]]

STATUS: dict[str, object] = {
    "tier": "balanced",
    "state": "ready",
    "pinned": None,
    "uptime_s": 3600.0,
    "gpus": [
        {"index": 0, "name": "RTX 3060", "used_mib": 10240, "total_mib": 12288, "util_pct": 87, "temp_c": 61},
        {"index": 1, "name": "RTX 3060", "used_mib": 9000, "total_mib": 12288, "util_pct": 80, "temp_c": 58},
    ],
    "in_flight": {"balanced": 1},
    "queued": 2,
    "last_swap": {"from": "fast", "to": "balanced", "took_s": 41.2, "phases": {"stop": 2.0, "load": 37.5}},
}


def swap_to(tier: str, *, ok: bool = True) -> list[Event]:
    """The events of one swap: draining, loading at 40% and 100%, then ready (or failed)."""
    events: list[Event] = [
        ("state", {"tier": tier, "state": "starting", "phase": "load", "progress": 0.4, "message": None}),
        ("state", {"tier": tier, "state": "starting", "phase": "load", "progress": 1.0, "message": None}),
    ]
    if ok:
        events.append(("swap", {"from": "balanced", "to": tier, "took_s": 12.5, "phases": {}, "ok": True,
                                "error": None}))  # fmt: skip
    else:
        events.append(("swap", {"from": "balanced", "to": tier, "took_s": None, "phases": {}, "ok": False,
                                "error": "out of VRAM"}))  # fmt: skip
    return events


@dataclass
class FakeControl:
    """The script and what was asked; `admin_token` guards every route."""

    admin_token: str = "admin-secret"
    status: dict[str, object] = field(default_factory=lambda: dict(STATUS))
    swap_events: list[Event] = field(default_factory=list)
    swaps: list[dict[str, object]] = field(default_factory=list)
    url: str = ""
    # Drop the event stream's connection once a swap's events are sent (swapd restarting).
    cut_after_swap: bool = False
    # Set once an event stream is open, so a test can start a swap its reader will see.
    subscribed: threading.Event = field(default_factory=threading.Event)
    _streams: list[asyncio.Queue[Event]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/swapd/status", self._status, methods=["GET"]),
                Route("/swapd/swap", self._swap, methods=["POST"]),
                Route("/swapd/events", self._events, methods=["GET"]),
            ]
        )

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.admin_token}"

    async def _status(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "missing or wrong admin token")
        return JSONResponse(self.status)

    async def _swap(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "missing or wrong admin token")
        body = await request.json()
        self.swaps.append(body)
        for stream in self._streams:
            for event in self.swap_events:
                stream.put_nowait(event)
        return JSONResponse({"tier": body["tier"], "state": "starting"}, status_code=202)

    async def _events(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "missing or wrong admin token")
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._streams.append(queue)
        self.subscribed.set()

        async def stream() -> AsyncIterator[str]:
            yield ": connected\n\n"
            while True:
                kind, data = await queue.get()
                yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
                if self.cut_after_swap and queue.empty():
                    raise ConnectionAbortedError("scripted cut: swapd went away mid-stream")

        return StreamingResponse(stream(), media_type="text/event-stream")


def _error(status: int, message: str) -> Response:
    envelope = {
        "error": {"message": message, "type": "authentication_error", "code": status, "source": "swapd"}
    }
    return JSONResponse(envelope, status_code=status)


@contextmanager
def serving(fake: FakeControl) -> Iterator[FakeControl]:
    """Run the fake on a free loopback port in a thread (uvicorn), and stop it on exit."""
    port = free_port()
    config = uvicorn.Config(
        fake.app(),
        host="127.0.0.1",
        port=port,
        log_level="critical",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-swapd-control", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=10, what="the fake control API")
        fake.url = f"http://127.0.0.1:{port}"
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
