"""Companions: small llama-servers that run beside whichever tier is loaded, each on its own port.

A companion starts with swapd and stays through every swap. Its requests are admitted here, by its own
slots, and never enter the swap machine's queue, so they neither wait on a swap nor cause one. A crash
or a failed load restarts it with the tiers' backoff; a missing model file fails it once, and the tiers
serve on. Until a companion is loaded, the VRAM it will take is held back from tier loads (`holds`).
"""

import asyncio
import itertools
import logging
import time
from collections.abc import Mapping
from enum import Enum

from swapd.config import Companion, Config, companion_command, companion_env, model_path
from swapd.driver import Ticket
from swapd.errors import SwapdError, TierUnavailable, UnknownTier
from swapd.events import EventHub
from swapd.gpu import Hold
from swapd.logs import line
from swapd.metrics import Metrics
from swapd.supervisor import OutputRing, Supervisor

log = logging.getLogger(__name__)


class State(Enum):
    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"  # it crashed or failed to load; waiting out the backoff
    FAILED = "failed"  # it will not be started again (its model file is missing)


class CompanionServer:
    """One companion: its llama-server's life (start, crash, backoff, restart) and its admission."""

    def __init__(
        self, spec: Companion, config: Config, supervisor: Supervisor, on_change: "Companions"
    ) -> None:
        self.spec = spec
        self.state = State.STARTING
        self.error: str | None = None
        self.restarts = 0
        self.in_flight = 0
        self._config = config
        self._supervisor = supervisor
        self._companions = on_change
        self._slots = asyncio.Semaphore(spec.parallel)
        self._waiting = 0
        self._ids = itertools.count(1)

    @property
    def ring(self) -> OutputRing:
        return self._supervisor.ring

    def _refuse(self) -> TierUnavailable:
        retry = self._config.retry_after_s
        name = self.spec.name
        if self.state is State.FAILED:
            return TierUnavailable(f"companion {name!r} failed: {self.error}", None)
        if self.state is State.RESTARTING:
            return TierUnavailable(f"companion {name!r} is restarting ({self.error}); retry shortly", retry)
        return TierUnavailable(f"companion {name!r} is loading; retry shortly", retry)

    async def admit(self) -> Ticket:
        """A slot on the companion, waiting only for its own requests; TierUnavailable unless it is ready."""
        if self.state is not State.READY:
            raise self._refuse()
        if self._waiting >= self._config.max_queue:
            raise TierUnavailable(
                f"companion {self.spec.name!r} is busy ({self._waiting} waiting); retry shortly",
                self._config.retry_after_s,
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        if self.state is not State.READY:  # it crashed while this request waited
            self._slots.release()
            raise self._refuse()
        self.in_flight += 1
        return Ticket(next(self._ids), self.spec.name, self._supervisor.url, kind="companion")

    def release(self) -> None:
        self.in_flight -= 1
        self._slots.release()

    def _enter(self, state: State, error: str | None = None) -> None:
        self.state, self.error = state, error
        self._companions.changed(self)

    async def run(self) -> None:
        """Start the companion and keep it running until cancelled; a missing model file ends it."""
        spec, config = self.spec, self._config
        try:
            path = model_path(spec)
            problem = "" if path.is_file() else f"model file {path} does not exist"
        except SwapdError as exc:
            problem = str(exc)
        if problem:
            log.error(line("companion.failed", companion=spec.name, error=problem))
            self._enter(State.FAILED, f"{problem}; fix companion {spec.name!r} and restart swapd")
            return
        attempt = 0
        while True:
            self._enter(State.STARTING)
            try:
                await self._supervisor.start(
                    lambda port: companion_command(config, spec, port),
                    timeout_s=spec.load_timeout_s,
                    on_phase=lambda _: None,
                    env=companion_env(spec),
                )
            except (SwapdError, OSError) as exc:
                error = str(exc)
            else:
                log.info(line("companion.ready", companion=spec.name, url=self._supervisor.url))
                self._enter(State.READY)
                ready_at = time.monotonic()
                error = await self._supervisor.wait_exit()
                await self._supervisor.stop()
                if time.monotonic() - ready_at > config.restart_backoff_max_s:
                    attempt = 0  # it had been up a good while: this is a new fault, not a crash loop
            attempt += 1
            self.restarts += 1
            delay = min(config.restart_backoff_s * 2 ** (attempt - 1), config.restart_backoff_max_s)
            log.warning(
                line(
                    "companion.restart_scheduled",
                    companion=spec.name,
                    attempt=attempt,
                    in_s=delay,
                    error=error,
                )
            )
            self._enter(State.RESTARTING, error)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        await self._supervisor.stop()


class Companions:
    """Every configured companion: their tasks, their admission by name, and what they hold of the VRAM."""

    def __init__(
        self, config: Config, supervisors: Mapping[str, Supervisor], hub: EventHub, metrics: Metrics
    ) -> None:
        self._hub = hub
        self._metrics = metrics
        self._settled = asyncio.Event()
        self.servers = {
            spec.name: CompanionServer(spec, config, supervisors[spec.name], self)
            for spec in config.companions
        }
        self._update_settled()

    def server(self, name: str) -> CompanionServer:
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(self.servers) or "none configured"
            raise UnknownTier(f"unknown companion {name!r} (known: {known})") from None

    async def admit(self, name: str | None) -> Ticket:
        assert name is not None, "a companion request always names its companion"
        return await self.server(name).admit()

    def release(self, ticket: Ticket) -> None:
        self.servers[ticket.tier].release()

    async def run(self) -> None:
        """Run every companion until cancelled (at shutdown)."""
        async with asyncio.TaskGroup() as tg:
            for server in self.servers.values():
                tg.create_task(server.run())

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop()

    async def holds(self) -> tuple[Hold, ...]:
        """What a tier load must leave free: first let companions that are starting finish (so the
        probe sees what they really took), then hold back the VRAM of those still not loaded."""
        while not self._settled.is_set():  # one may start again between the wake-up and this task running
            await self._settled.wait()
        return tuple(
            Hold(s.spec.name, s.spec.vram_mib)
            for s in self.servers.values()
            if s.state in (State.STARTING, State.RESTARTING) and s.spec.vram_mib
        )

    def changed(self, server: CompanionServer) -> None:
        self._update_settled()
        self._metrics.companion_state(
            server.spec.name, ready=server.state is State.READY, restarting=server.state is State.RESTARTING
        )
        name = server.spec.name
        message = {
            State.STARTING: f"loading {name}",
            State.READY: f"{name} ready",
            State.RESTARTING: f"{name} stopped ({server.error}); restarting",
            State.FAILED: f"{name} failed: {server.error}",
        }[server.state]
        self._hub.publish("companion", {"name": name, "state": server.state.value, "message": message})

    def _update_settled(self) -> None:
        if any(s.state is State.STARTING for s in self.servers.values()):
            self._settled.clear()
        else:
            self._settled.set()

    def report(self) -> list[dict[str, object]]:
        """The `companions` entries of `/swapd/status`."""
        return [
            {
                "name": s.spec.name,
                "aliases": list(s.spec.aliases),
                "state": s.state.value,
                "in_flight": s.in_flight,
                "restarts": s.restarts,
                "error": s.error,
                "ctx_size": s.spec.ctx_size,
                "vram_mib": s.spec.vram_mib,
            }
            for s in self.servers.values()
        ]
