"""Client of swapd's control API (docs/architecture.md): status, swaps and their progress events.

Reached over the Unix socket when `llm.control_socket` is set, else on the LAN port with the admin
token. The terminal chat uses it for `/tier` and `/status`; the Discord bot reuses it.
"""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.config import LlmSettings
from assistant.credentials import credential_path, read_secret
from assistant.errors import SwapdControlError


class _Answer(BaseModel):
    # swapd may add fields; the client reads only what it shows.
    model_config = ConfigDict(frozen=True, extra="ignore")


AnswerT = TypeVar("AnswerT", bound=_Answer)


class Gpu(_Answer):
    index: int
    name: str
    used_mib: int
    total_mib: int
    util_pct: float | None = None
    temp_c: float | None = None


class Status(_Answer):
    """`GET /swapd/status`."""

    tier: str | None
    state: str
    pinned: bool | str | None = None
    uptime_s: float | None = None
    gpus: list[Gpu] = []
    in_flight: dict[str, int] = {}
    queued: int = 0
    last_swap: dict[str, object] | None = None


class TierState(_Answer):
    """A `state` event: `tier` is `state`, in swap `phase` at `progress` (0..1), both possibly null."""

    kind: Literal["state"] = "state"
    tier: str | None
    state: str
    phase: str | None = None
    progress: float | None = None
    message: str | None = None


class SwapDone(_Answer):
    """A `swap` event: a swap ended, well (`ok`) or not (`error`)."""

    kind: Literal["swap"] = "swap"
    to: str
    took_s: float | None = None
    ok: bool
    error: str | None = None


ControlEvent = TierState | SwapDone


class SwapdControl:
    """The control API over one httpx client."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, admin_token: str | None) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}

    @classmethod
    @asynccontextmanager
    async def connect(cls, settings: LlmSettings) -> AsyncIterator["SwapdControl | None"]:
        """The control API the config names, or None when it names neither a socket nor a token."""
        if settings.control_socket is not None:
            transport = httpx.AsyncHTTPTransport(uds=str(settings.control_socket))
            async with httpx.AsyncClient(transport=transport, timeout=30) as http:
                yield cls(http, "http://swapd", None)
            return
        if settings.admin_token_file is None and credential_path(settings.admin_token_credential) is None:
            yield None
            return
        token = read_secret(settings.admin_token_credential, settings.admin_token_file)
        async with httpx.AsyncClient(timeout=30) as http:
            yield cls(http, str(settings.url), token)

    async def status(self) -> Status:
        return _parse(Status, await self._json("GET", "/swapd/status"))

    async def swap(self, tier: str, force: bool = False) -> None:
        """Ask for a swap (202); progress arrives on `events()`."""
        await self._json("POST", "/swapd/swap", {"tier": tier, "force": force})

    async def events(self) -> AsyncIterator[ControlEvent]:
        """Every control event from now on, until swapd closes the stream."""
        async with self._stream("GET", "/swapd/events") as response:
            try:
                async for event in parse_events(response):
                    yield event
            except httpx.HTTPError as exc:
                raise SwapdControlError(
                    f"swapd's event stream broke off: {exc or type(exc).__name__}"
                ) from exc

    async def follow_swap(self, tier: str, force: bool = False) -> AsyncIterator[ControlEvent]:
        """Ask for a swap to `tier` and yield its progress until it ends (or `tier` is ready)."""
        async with self._stream("GET", "/swapd/events") as response:
            events = parse_events(response)
            await self.swap(tier, force)
            async for event in events:
                yield event
                if isinstance(event, SwapDone) and event.to == tier:
                    return
                if isinstance(event, TierState) and event.tier == tier and event.state in ("ready", "failed"):
                    return

    async def _json(self, method: str, path: str, body: dict[str, object] | None = None) -> object:
        try:
            response = await self._http.request(method, self._base + path, json=body, headers=self._headers)
        except httpx.TransportError as exc:
            raise SwapdControlError(f"cannot reach swapd's control API: {exc or type(exc).__name__}") from exc
        _check(response)
        try:
            return response.json()
        except ValueError as exc:
            raise SwapdControlError(f"swapd answered {path} with something that is not JSON") from exc

    @asynccontextmanager
    async def _stream(self, method: str, path: str) -> AsyncIterator[httpx.Response]:
        request = self._http.build_request(
            method, self._base + path, headers=self._headers, timeout=httpx.Timeout(30, read=None)
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise SwapdControlError(f"cannot reach swapd's control API: {exc or type(exc).__name__}") from exc
        try:
            if not response.is_success:
                await response.aread()
                _check(response)
            yield response
        finally:
            await response.aclose()


def _check(response: httpx.Response) -> None:
    if response.is_success:
        return
    if response.status_code == 401:
        raise SwapdControlError("swapd rejected the admin token (401): check llm.admin_token_file")
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}"
    raise SwapdControlError(f"swapd refused: {message}")


def _parse(model: type[AnswerT], data: object) -> AnswerT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SwapdControlError(f"swapd answered in an unexpected shape: {exc.errors()[0]['msg']}") from exc


async def parse_events(response: httpx.Response) -> AsyncIterator[ControlEvent]:
    """Server-sent events (`event:` / `data:` lines, a blank line ends one) as typed control events."""
    kind, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            event = _event(kind, "\n".join(data))
            kind, data = "message", []
            if event is not None:
                yield event


def _event(kind: str, data: str) -> ControlEvent | None:
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    if kind == "state":
        return _parse(TierState, payload)
    if kind == "swap":
        return _parse(SwapDone, payload)
    return None
