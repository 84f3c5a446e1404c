"""Builds swapd's ASGI app and runs it: one uvicorn server on the LAN port and the control socket.

The lifespan owns everything that lives as long as the process: the driver's and the companions'
tasks, their llama-server children (stopped once the tasks end), the proxy's upstream pool and the
shared httpx client.
"""

import asyncio
import contextlib
import grp
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from swapd import logs
from swapd.companions import Companions
from swapd.config import Config
from swapd.control import Control, on_local_socket
from swapd.credentials import read_secret
from swapd.driver import Driver, read_persisted
from swapd.errors import BadRequest, ConfigError, GpuProbeFailed, MethodNotAllowed, NotFound, SwapdError
from swapd.events import EventHub
from swapd.gpu import GpuProbe, NvmlGpu, open_probe, overcommitted
from swapd.logs import line
from swapd.metrics import Metrics
from swapd.proxy import PROXIED, TRANSPORT, Proxy, error_response
from swapd.slots import PromptCache
from swapd.supervisor import Supervisor
from swapd.swap import Phase
from swapd.upstream import Pool

log = logging.getLogger(__name__)
# The only characters a proxied or control path needs; anything else (.., //, %-escapes) is refused.
PATH_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789/_-")


class FrontDoor:
    """The app uvicorn runs. Refuses paths with dot segments, empty segments or escapes before any
    routing happens, and hands the proxied paths on the LAN port straight to the proxy; the rest
    goes to `app` (Starlette). The path every token takes is then uvicorn, this and the proxy, with
    no middleware wrapping each chunk (issue 16)."""

    def __init__(self, app: Starlette, proxy: Proxy) -> None:
        self.app = app
        self._proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw: bytes = scope.get("raw_path") or scope["path"].encode()
            if not raw.startswith(b"/") or b"//" in raw or not set(raw) <= PATH_CHARS:
                log.info(line("request.refused_path"))
                await error_response(BadRequest("refused path: only plain API paths are served"))(
                    scope, receive, send
                )
                return
            if PROXIED.get(scope["path"]) == scope["method"] and not on_local_socket(Request(scope)):
                await self._proxy(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, which also offers each request the connection's transport (the
    ASGI extension `swapd.transport`): the proxy writes SSE chunks to it straight from llama-server's
    data callback (docs/decisions/0015-sse-straight-to-the-client.md)."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {TRANSPORT: {"transport": self.transport}}


@dataclass(frozen=True)
class Secrets:
    api_keys: tuple[str, ...]
    admin_tokens: tuple[str, ...]

    @classmethod
    def read(cls, config: Config) -> "Secrets":
        admin = (read_secret(config.admin_token_file),) if config.admin_token_file else ()
        return cls(tuple(read_secret(ref) for ref in config.api_key_files), admin)

    @property
    def all(self) -> Sequence[str]:
        return (*self.api_keys, *self.admin_tokens)


async def _swapd_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SwapdError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(
            MethodNotAllowed(f"method {request.method} is not allowed on {request.url.path}")
        )
    return error_response(NotFound(f"no such endpoint: {request.method} {request.url.path}"))


def _driver_ended(task: "asyncio.Task[None]") -> None:
    """The driver and the companions' task end only at shutdown; anything else is a bug that leaves
    requests waiting: say so."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.critical(line("driver.died", task=task.get_name(), error=exc), exc_info=exc)


async def _warn_overcommit(config: Config, probe: GpuProbe) -> None:
    """Say at start-up what `swapd check-config` would warn about on these GPUs."""
    try:
        gpus = await probe.snapshot()
    except GpuProbeFailed as exc:
        log.warning(line("gpu.probe_failed", error=exc))
        return
    for problem in overcommitted(config, gpus):
        log.warning(line("vram.overcommitted", problem=problem))


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception(line("request.internal_error", path=request.url.path), exc_info=exc)
    return error_response(SwapdError("internal error in swapd; see its log"))


def build(config: Config, secrets: Secrets, hub: EventHub, probe: GpuProbe | None = None) -> FrontDoor:
    """The whole app; `probe` replaces the configured GPU backend in tests."""
    probe = probe or open_probe(config.gpu)
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(connect=5.0, read=None, write=60.0, pool=None),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
    )
    supervisor = Supervisor(
        client, health_interval_s=config.health_interval_s, stop_timeout_s=config.stop_timeout_s
    )
    metrics = Metrics()
    cache = PromptCache(config.state_dir / "slots", config.prompt_cache_max_mib, client)
    companions = Companions(
        config,
        {
            c.name: Supervisor(
                client,
                health_interval_s=config.health_interval_s,
                stop_timeout_s=config.stop_timeout_s,
                logs_command=f"swapctl logs --companion {c.name}",
            )
            for c in config.companions
        },
        hub,
        metrics,
    )
    driver = Driver(
        config,
        supervisor,
        probe,
        hub,
        metrics,
        cache if config.prompt_cache_max_mib else None,
        holds=companions.holds,
    )
    pool = Pool()
    proxy = Proxy(config, driver, companions, pool, secrets.api_keys, metrics)
    control = Control(config, driver, companions, probe, hub, supervisor.ring, secrets.admin_tokens)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(request: Request) -> Response:
        proxy.authorize(request)
        data = [{"id": t["name"], "object": "model", "owned_by": "swapd", **t} for t in control.tier_list()]
        data += [
            {"id": c["name"], "object": "model", "owned_by": "swapd", "companion": True, **c}
            for c in control.companion_list()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def scrape(request: Request) -> Response:
        """Prometheus: the API key on the LAN port, nothing on the control socket."""
        if not on_local_socket(request):
            proxy.authorize(request)
        s = driver.state
        in_flight: dict[str, int] = {}
        for tier in s.in_flight.values():
            in_flight[tier] = in_flight.get(tier, 0) + 1
        ready = s.current if s.phase is Phase.READY else None
        metrics.set_state(config.tier_names, ready, in_flight, len(s.queue))
        metrics.set_companions({name: c.in_flight for name, c in companions.servers.items()})
        try:
            metrics.set_gpus(await probe.snapshot())
        except GpuProbeFailed as exc:
            log.warning(line("gpu.probe_failed", error=exc))
        if ready is not None:
            await metrics.scrape_llama(client, ready, supervisor.url)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def lan_only(request: Request) -> Response:
        """/v1/models on the LAN port; the other proxied paths reach this only on the control socket."""
        if on_local_socket(request):
            raise NotFound(f"{request.url.path} is served on the LAN port, not the control socket")
        if request.url.path == "/v1/models":
            return await models(request)
        raise NotFound(f"no such endpoint: {request.method} {request.url.path}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        boot = read_persisted(config.state_dir, config)
        log.info(line("swapd.start", port=config.port, tier=boot or "-", policy=config.policy.value))
        await _warn_overcommit(config, probe)
        residents = asyncio.create_task(companions.run(), name="companions")
        residents.add_done_callback(_driver_ended)
        task = asyncio.create_task(driver.run(boot), name="driver")
        task.add_done_callback(_driver_ended)
        try:
            yield
        finally:
            hub.close()
            task.cancel()
            residents.cancel()
            await asyncio.wait([task, residents])
            await supervisor.stop()
            await companions.stop()
            pool.close()
            await client.aclose()
            if isinstance(probe, NvmlGpu):
                probe.close()
            log.info(line("swapd.stopped"))

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", scrape, methods=["GET"]),
        Route("/v1/models", lan_only, methods=["GET"]),
        *(Route(path, lan_only, methods=[method]) for path, method in PROXIED.items()),
        *control.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={SwapdError: _swapd_error, HTTPException: _http_error, Exception: _internal},
    )
    return FrontDoor(app, proxy)


def control_socket(path: Path, group: str | None) -> socket.socket:
    """Bind the control socket with mode 0660 (and the configured group); a stale socket file is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(str(path)) == 0:
                    raise ConfigError(f"control_socket: another swapd is listening on {path}")
            path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o660)
        if group is not None:
            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        # Listening now, not when uvicorn starts: a client that sees the file is queued, not refused.
        sock.listen(128)
    except (OSError, KeyError) as exc:
        sock.close()
        raise ConfigError(f"control_socket: cannot bind {path}: {exc}") from exc
    return sock


def lan_socket(config: Config) -> socket.socket:
    """The LAN listener. Created with proto=IPPROTO_TCP, not by socket.create_server (proto 0): asyncio
    turns Nagle off only for TCP-proto sockets, and with Nagle on, a response's second small write waited
    for the client's delayed ACK (40 ms per answer)."""
    family = socket.AF_INET6 if ":" in config.listen else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((config.listen, config.port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"listen: cannot bind {config.listen}:{config.port}: {exc.strerror}") from exc
    return sock


class Server(uvicorn.Server):
    """Ends the open event streams as shutdown starts, so they do not hold it up, and removes the socket.

    (uvicorn re-raises the SIGTERM it caught once it is done, so nothing after `run` would execute.)
    """

    def __init__(self, config: uvicorn.Config, hub: EventHub, control_socket: Path) -> None:
        super().__init__(config)
        self._hub = hub
        self._control_socket = control_socket

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._hub.close()
        try:
            await super().shutdown(sockets)
        finally:
            self._control_socket.unlink(missing_ok=True)


def serve(config: Config) -> None:
    """Run swapd until SIGTERM or SIGINT."""
    secrets = Secrets.read(config)
    logs.configure(config.log_level, secrets.all)
    hub = EventHub()
    app = build(config, secrets, hub)
    sockets = [lan_socket(config), control_socket(config.control_socket, config.control_socket_group)]
    uv_config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        lifespan="on",
        http=HttpProtocol,
        proxy_headers=False,  # swapd is not behind a proxy: no client may set its address by header
    )
    Server(uv_config, hub, config.control_socket).run(sockets=sockets)
