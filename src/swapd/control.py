"""The control API that swapctl talks to: status, swap, pin/unpin, unload, logs and events (SSE).

Served without a token on the Unix socket (its file mode and group are the access control) and,
when an admin token is configured, under the same paths on the LAN port with that token.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from swapd import swap
from swapd.companions import Companions
from swapd.config import Config, model_path
from swapd.driver import Driver
from swapd.errors import BadRequest, GpuProbeFailed, NotFound, PinConflict
from swapd.events import EventHub, Message
from swapd.gpu import GpuProbe
from swapd.logs import line
from swapd.prewarm import prewarm
from swapd.proxy import check_bearer
from swapd.supervisor import OutputRing

log = logging.getLogger(__name__)
PING_S = 15.0
MAX_TAIL = 2000


def on_local_socket(request: Request) -> bool:
    """uvicorn reports a Unix socket's server address as (path, None); TCP always has a port."""
    server = request.scope.get("server")
    return server is not None and server[1] is None


class SwapBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tier: str
    force: bool = False


class PinBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tier: str


class EmptyBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


B = TypeVar("B", bound=BaseModel)


async def parse(request: Request, model: type[B]) -> B:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise BadRequest(f"{where}: {err['msg']}" if where else f"request body: {err['msg']}") from exc


def sse(message: Message) -> bytes:
    return f"event: {message.kind}\ndata: {json.dumps(message.data)}\n\n".encode()


class Control:
    def __init__(
        self,
        config: Config,
        driver: Driver,
        companions: Companions,
        probe: GpuProbe,
        hub: EventHub,
        ring: OutputRing,
        admin_tokens: Sequence[str],
    ) -> None:
        self._config = config
        self._driver = driver
        self._companions = companions
        self._probe = probe
        self._hub = hub
        self._ring = ring
        self._admin_tokens = tuple(admin_tokens)

    def authorize(self, request: Request) -> None:
        if on_local_socket(request):
            return
        if not self._admin_tokens:
            raise NotFound("the control API is not enabled on this port (set admin_token_file)")
        check_bearer(request, self._admin_tokens)

    def routes(self) -> list[Route]:
        return [
            Route("/swapd/status", self.status, methods=["GET"]),
            Route("/swapd/tiers", self.tiers, methods=["GET"]),
            Route("/swapd/swap", self.swap, methods=["POST"]),
            Route("/swapd/pin", self.pin, methods=["POST"]),
            Route("/swapd/unpin", self.unpin, methods=["POST"]),
            Route("/swapd/unload", self.unload, methods=["POST"]),
            Route("/swapd/logs", self.logs, methods=["GET"]),
            Route("/swapd/events", self.events, methods=["GET"]),
            Route("/swapd/history", self.history, methods=["GET"]),
            Route("/swapd/prewarm", self.prewarm, methods=["POST"]),
        ]

    def tier_list(self) -> list[dict[str, object]]:
        s = self._driver.state
        return [
            {
                "name": t.name,
                "aliases": list(t.aliases),
                "state": s.phase.value if t.name == s.current else "stopped",
                "ctx_size": t.ctx_size,
                "vram_mib": t.vram_mib,
            }
            for t in self._config.tiers
        ]

    def companion_list(self) -> list[dict[str, object]]:
        return self._companions.report()

    async def status(self, request: Request) -> Response:
        self.authorize(request)
        try:
            gpus = [g.report() for g in await self._probe.snapshot()]
        except GpuProbeFailed as exc:
            log.warning(line("gpu.probe_failed", error=exc))
            gpus = []
        s = self._driver.state
        since = self._driver.ready_since
        in_flight: dict[str, int] = {}
        for tier in s.in_flight.values():
            in_flight[tier] = in_flight.get(tier, 0) + 1
        return JSONResponse(
            {
                "tier": s.current,
                "state": s.phase.value,
                "pinned": s.pinned,
                "uptime_s": round(time.monotonic() - since, 1) if since is not None else 0.0,
                "gpus": gpus,
                "in_flight": in_flight,
                "queued": len(s.queue),
                "last_swap": self._driver.last_swap,
                "companions": self.companion_list(),
            }
        )

    async def tiers(self, request: Request) -> Response:
        self.authorize(request)
        return JSONResponse(self.tier_list())

    async def _accepted(self, answer: swap.Answer, tier: str) -> Response:
        if not answer.ok:
            raise PinConflict(answer.message)
        return JSONResponse(
            {"tier": tier, "state": self._driver.state.phase.value, "message": answer.message}, 202
        )

    async def swap(self, request: Request) -> Response:
        self.authorize(request)
        body = await parse(request, SwapBody)
        tier = self._config.tier(body.tier).name
        answer = await self._driver.command(lambda cid: swap.SwapTo(cid, tier, body.force))
        log.info(line("control.swap", tier=tier, force=body.force))
        return await self._accepted(answer, tier)

    async def pin(self, request: Request) -> Response:
        self.authorize(request)
        tier = self._config.tier((await parse(request, PinBody)).tier).name
        answer = await self._driver.command(lambda cid: swap.Pin(cid, tier))
        log.info(line("control.pin", tier=tier))
        return await self._accepted(answer, tier)

    async def unpin(self, request: Request) -> Response:
        self.authorize(request)
        await parse(request, EmptyBody)
        answer = await self._driver.command(swap.Unpin)
        log.info(line("control.unpin"))
        return JSONResponse({"message": answer.message})

    async def unload(self, request: Request) -> Response:
        self.authorize(request)
        await parse(request, EmptyBody)
        answer = await self._driver.command(swap.Unload)
        log.info(line("control.unload"))
        return JSONResponse({"message": answer.message}, 202)

    async def logs(self, request: Request) -> Response:
        self.authorize(request)
        raw_tail = request.query_params.get("tail", "200")
        if not raw_tail.isdigit():
            raise BadRequest(f"tail: {raw_tail!r} is not a number of lines")
        tail = min(int(raw_tail), MAX_TAIL)
        companion = request.query_params.get("companion")
        ring = self._ring if companion is None else self._companions.server(companion).ring
        if request.query_params.get("follow") not in (None, "0", "false"):
            return StreamingResponse(self._follow(ring, tail), media_type="text/event-stream")
        return JSONResponse({"lines": ring.tail(tail)})

    @staticmethod
    async def _follow(ring: OutputRing, tail: int) -> AsyncIterator[bytes]:
        async for text in ring.follow(tail):
            yield f"event: log\ndata: {json.dumps({'line': text})}\n\n".encode()

    async def prewarm(self, request: Request) -> Response:
        self.authorize(request)
        tier = self._config.tier((await parse(request, PinBody)).tier)
        done = await prewarm(model_path(tier))
        log.info(line("prewarm.done", tier=tier.name, bytes=done.bytes, took_s=done.took_s))
        return JSONResponse({"tier": tier.name, "bytes": done.bytes, "took_s": done.took_s})

    async def history(self, request: Request) -> Response:
        self.authorize(request)
        return JSONResponse({"swaps": list(self._driver.history)})

    async def events(self, request: Request) -> Response:
        self.authorize(request)
        return StreamingResponse(
            self._stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    async def _stream(self) -> AsyncIterator[bytes]:
        with self._hub.subscribe() as sub:
            s = self._driver.state
            yield sse(
                Message(
                    "state",
                    {
                        "tier": s.current or s.goal,
                        "state": s.phase.value,
                        "phase": None,
                        "progress": None,
                        "message": "",
                    },
                )
            )
            for companion in self.companion_list():
                data = {k: companion[k] for k in ("name", "state")}
                yield sse(Message("companion", {**data, "message": ""}))
            while True:
                try:
                    message = await asyncio.wait_for(sub.next(), PING_S)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if message is None:
                    return
                yield sse(message)
