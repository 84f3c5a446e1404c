"""Fixtures for swapd's unit tests: configs whose tiers run the fake llama-server, and the app in-process."""

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from localhost import free_port
from starlette.types import ASGIApp

from swapd import config as configuration
from swapd.app import FrontDoor, HttpProtocol, Secrets, build, lan_socket
from swapd.driver import Ticket
from swapd.errors import SwapdError
from swapd.events import EventHub
from swapd.gpu import GpuProbe
from swapd.proxy import Call, Exchange, Head
from swapd.upstream import BrokenOff, Connection, NoAnswer, Pool

FAKE_LLAMA = Path(__file__).resolve().parents[2] / "fakes" / "fake_llama_server.py"
# Sentinels: if either ever shows up in a log line or an answer, a secret leaked.
API_KEY = "sk-sentinel-api-7Q2v9XkL3m"
ADMIN_TOKEN = "adm-sentinel-token-Z8r4Tb1c"
LAN = "http://127.0.0.1:8080"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def tier(name: str, parallel: int = 1, *args: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": f"/models/{name}.gguf",
        "ctx_size": 1024,
        "parallel": parallel,
        "args": list(args),
    }


def companion(tmp_path: Path, name: str = "fim", *args: str, **fields: Any) -> dict[str, Any]:
    """A companion on the fake llama-server; its model file exists (swapd checks that before starting)."""
    model = tmp_path / f"{name}.gguf"
    model.write_bytes(b"GGUF")
    return {"name": name, "model": str(model), "ctx_size": 512, "args": list(args), **fields}


def make_config(tmp_path: Path, **overrides: Any) -> configuration.Config:
    """Three fake tiers (fast with 2 slots, balanced and deep with 1), quick timeouts, no GPU."""
    data: dict[str, Any] = {
        "listen": "127.0.0.1",
        "port": 8080,
        "control_socket": str(tmp_path / "control.sock"),
        "state_dir": str(tmp_path / "state"),
        "llama_server": str(FAKE_LLAMA),
        "stop_timeout_s": 2,
        "drain_grace_s": 10,
        "restart_backoff_s": 0.05,
        "gpu": {"backend": "none"},
        "tiers": [tier("fast", 2, "--fake-load-s", "0.05"), tier("balanced"), tier("deep")],
    }
    data.update(overrides)
    return configuration.parse(data)


@dataclass
class Swapd:
    app: FrontDoor
    hub: EventHub
    client: httpx.AsyncClient  # the LAN port, with the API key
    admin: dict[str, str]  # headers for the control API on the LAN port

    async def status(self) -> dict[str, Any]:
        reply = await self.client.get("/swapd/status", headers=self.admin)
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    async def wait_until(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """Poll the status until the outside world (a llama-server child) gets there; fail at a deadline."""
        deadline = time.monotonic() + 15.0
        while True:
            status = await self.status()
            if check(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"swapd never reached {what}; last status {status}")
            await asyncio.sleep(0.02)

    async def wait_for(self, tier: str | None, state: str = "ready") -> dict[str, Any]:
        return await self.wait_until(lambda s: s["tier"] == tier and s["state"] == state, f"{tier} {state}")

    async def upstream(self) -> str:
        """The URL of the llama-server now serving, from its own startup line in the ring buffer."""
        lines = (await self.client.get("/swapd/logs", params={"tail": 2000}, headers=self.admin)).json()[
            "lines"
        ]
        ports = [m.group(1) for text in lines if (m := re.search(r"listening on (http://[\d.:]+)", text))]
        return ports[-1]

    async def companion_upstream(self, name: str) -> str:
        """The URL of a companion's llama-server now running, from its own startup line."""
        params = {"tail": 2000, "companion": name}
        lines = (await self.client.get("/swapd/logs", params=params, headers=self.admin)).json()["lines"]
        ports = [m.group(1) for text in lines if (m := re.search(r"listening on (http://[\d.:]+)", text))]
        return ports[-1]

    async def companion(self, name: str = "fim") -> dict[str, Any]:
        entry: dict[str, Any] = next(c for c in (await self.status())["companions"] if c["name"] == name)
        return entry

    async def wait_companion(self, state: str, name: str = "fim") -> dict[str, Any]:
        await self.wait_until(
            lambda s: any(c["name"] == name and c["state"] == state for c in s["companions"]),
            f"companion {name} {state}",
        )
        return await self.companion(name)

    async def started_count(self) -> int:
        lines = (await self.client.get("/swapd/logs", params={"tail": 2000}, headers=self.admin)).json()[
            "lines"
        ]
        return sum(1 for text in lines if text.startswith("--- swapd: started"))


@contextlib.asynccontextmanager
async def running(
    config: configuration.Config, probe: GpuProbe | None = None, admin: bool = True
) -> AsyncIterator[Swapd]:
    """The app in-process (ASGITransport buffers whole answers: no streaming tests through it)."""
    hub = EventHub()
    app = build(config, Secrets((API_KEY,), (ADMIN_TOKEN,) if admin else ()), hub, probe)
    async with app.app.router.lifespan_context(app.app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url=LAN, headers=headers, timeout=30
        ) as client:
            yield Swapd(app, hub, client, {"Authorization": f"Bearer {ADMIN_TOKEN}"})


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """The app of `running` (its lifespan already entered) behind a real uvicorn on a loopback port,
    with swapd's HTTP protocol."""
    sock = lan_socket(make_config(Path("/nonexistent"), port=free_port()))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", http=HttpProtocol)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert not task.done(), "uvicorn exited during startup"
            assert time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class CountingPool(Pool):
    """The real pool, counting the connections asked of it (a resent request asks twice); the first
    `refusals` are refused like a dead port."""

    def __init__(self, refusals: int = 0) -> None:
        super().__init__()
        self.attempts = 0
        self._refusals = refusals

    async def connection(self, host: str, port: int, fresh: bool = False) -> Connection:
        self.attempts += 1
        if self.attempts <= self._refusals:
            raise NoAnswer(f"cannot connect to {host}:{port}: [Errno 111] Connection refused")
        return await super().connection(host, port, fresh)


@dataclass
class Outcome:
    """What one exchange came to: its head, its body as read, and the error that ended it, if any."""

    head: Head | None = None
    body: list[bytes] = field(default_factory=list)
    error: SwapdError | None = None


async def exchanged(pool: Pool, url: str, call: Call) -> Outcome:
    """Run one exchange for tier 'fast' at `url` to its end, as the proxy does."""
    exchange = Exchange(pool, Ticket(1, "fast", url), call)
    outcome = Outcome()
    try:
        outcome.head = await exchange.head()
        while data := await exchange.body.read():
            outcome.body.append(data)
    except SwapdError as exc:
        outcome.error = exc
    except BrokenOff as exc:
        outcome.error = exchange.broken(exc)
    finally:
        exchange.close()
    return outcome
