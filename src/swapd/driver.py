"""Runs the swap machine: one task takes events in order, steps `swap.step`, and carries out the actions.

Slow work (loading a tier, stopping one, timers) runs in tasks of the driver's own TaskGroup and
comes back as events, so the loop never blocks and the state needs no lock. Reading the state to
report it (status, tiers) is fine; decisions are only ever taken inside `step`.
"""

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from swapd import swap
from swapd.config import Config, command, model_path
from swapd.errors import GpuProbeFailed, SwapdError, TierUnavailable
from swapd.events import EventHub
from swapd.gpu import GpuProbe, Hold, check_fits, wait_released
from swapd.logs import line
from swapd.metrics import Metrics
from swapd.prewarm import mem_available_mib, prewarm
from swapd.slots import PromptCache
from swapd.supervisor import Supervisor

log = logging.getLogger(__name__)
STATE_FILE = "active-tier"
HISTORY = 50  # swaps kept for `swapctl history`


@dataclass
class Ticket:
    """An admitted request: which tier (or, with kind "companion", which companion) serves it, where,
    and how to cancel it on a forced swap."""

    rid: int
    tier: str
    upstream: str
    kind: Literal["tier", "companion"] = "tier"
    cancelled: str | None = None
    _on_cancel: Callable[[str], None] | None = field(default=None, repr=False)

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        self._on_cancel = callback
        if self.cancelled is not None:
            callback(self.cancelled)

    def cancel(self, message: str) -> None:
        self.cancelled = message
        if self._on_cancel is not None:
            self._on_cancel(message)


@dataclass
class SwapClock:
    """Wall time of the swap in progress, split into the phases of the control API."""

    started: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)
    phase: str | None = None
    phase_started: float = 0.0

    def enter(self, phase: str | None) -> None:
        now = time.monotonic()
        if self.phase is not None:
            self.phases[self.phase] = round(self.phases.get(self.phase, 0.0) + now - self.phase_started, 3)
        self.phase, self.phase_started = phase, now


def read_persisted(state_dir: Path, config: Config) -> str | None:
    """The tier to come back on: the persisted one, the default when none was saved; '' means unloaded."""
    try:
        saved = (state_dir / STATE_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return config.default
    if not saved:
        return None
    if saved not in config.tier_names:
        log.warning(line("state.unknown_tier", saved=saved, using=config.default))
        return config.default
    return saved


async def no_holds() -> tuple[Hold, ...]:
    return ()


class Driver:
    def __init__(
        self,
        config: Config,
        supervisor: Supervisor,
        probe: GpuProbe,
        hub: EventHub,
        metrics: Metrics,
        cache: PromptCache | None = None,
        holds: Callable[[], Awaitable[tuple[Hold, ...]]] = no_holds,
    ) -> None:
        self._config = config
        self._holds = holds  # VRAM kept for companions that are not loaded yet (see companions.py)
        self._metrics = metrics
        self._cache = cache
        self._supervisor = supervisor
        self._probe = probe
        self._hub = hub
        self.rules = swap.Rules(
            slots={t.name: t.in_flight_limit for t in config.tiers},
            default=config.default,
            policy=config.policy,
            max_queue=config.max_queue,
            batch_limit=config.batch_limit,
            residency=config.min_residency_s > 0,
            drain_limit=config.drain_grace_s is not None,
        )
        self.state = swap.State()
        self._inbox: asyncio.Queue[swap.Event] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Ticket]] = {}
        self._tickets: dict[int, Ticket] = {}
        self._answers: dict[int, asyncio.Future[swap.Answer]] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._life: asyncio.Task[None] | None = None
        self._clock: SwapClock | None = None
        self._subphase: str | None = None
        self.ready_since: float | None = None
        self.last_swap: dict[str, object] | None = None
        self.history: deque[dict[str, object]] = deque(maxlen=HISTORY)

    # --- the API the proxy and the control endpoints use --------------------------------------

    async def admit(self, tier: str | None) -> Ticket:
        """Wait in swapd's queue until the tier can take the request; TierUnavailable if refused."""
        rid = next(self._ids)
        future: asyncio.Future[Ticket] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        self._inbox.put_nowait(swap.Arrive(rid, tier))
        try:
            return await future
        except asyncio.CancelledError:
            # Admitted in the same turn as the cancel: the ticket was issued, so forget it too.
            self._tickets.pop(rid, None)
            self._inbox.put_nowait(swap.Leave(rid))
            raise
        finally:
            self._waiting.pop(rid, None)

    def release(self, ticket: Ticket) -> None:
        self._tickets.pop(ticket.rid, None)
        self._inbox.put_nowait(swap.Leave(ticket.rid))

    async def command(self, make: Callable[[int], swap.Event]) -> swap.Answer:
        cid = next(self._ids)
        future: asyncio.Future[swap.Answer] = asyncio.get_running_loop().create_future()
        self._answers[cid] = future
        self._inbox.put_nowait(make(cid))
        try:
            return await future
        finally:
            self._answers.pop(cid, None)

    # --- the loop ----------------------------------------------------------------------------

    async def run(self, boot_tier: str | None) -> None:
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            if boot_tier is not None:
                self._handle(swap.SwapTo(0, boot_tier))
            while True:
                self._handle(await self._inbox.get())

    def _handle(self, event: swap.Event) -> None:
        before = self.state
        self.state, actions = swap.step(self.rules, self.state, event)
        for action in actions:
            self._do(action)
        s = self.state
        if (before.phase, before.current, before.goal) != (s.phase, s.current, s.goal):
            self._phase_changed(before)
        elif s.phase is swap.Phase.DRAINING and before.count(s.current or "") != s.count(s.current or ""):
            self._publish_state(None)  # a drain may wait minutes: show each request that ends

    def _spawn(self, coro: "asyncio.Future[None] | asyncio.Task[None] | object") -> asyncio.Task[None]:
        assert self._tg is not None
        return self._tg.create_task(coro)  # type: ignore[arg-type]

    def _do(self, action: swap.Action) -> None:
        match action:
            case swap.Admit(rid=rid, tier=tier):
                future = self._waiting.get(rid)
                if future is not None and not future.done():
                    ticket = Ticket(rid, tier, self._supervisor.url)
                    self._tickets[rid] = ticket
                    future.set_result(ticket)
            case swap.Reject(rid=rid, why=why, message=message):
                future = self._waiting.get(rid)
                if future is not None and not future.done():
                    future.set_exception(TierUnavailable(message, self._config.retry_after_s))
                log.info(line("request.refused", why=why.value))
            case swap.Answer(cid=cid):
                answer = self._answers.get(cid)
                if answer is not None and not answer.done():
                    answer.set_result(action)
            case swap.StartLoad(gen=gen, tier=tier):
                self._life = self._spawn(self._load(gen, tier))
            case swap.StopTier(gen=gen, tier=tier):
                self._spawn(self._stop(gen, tier))
            case swap.CancelInFlight(rids=rids, message=message):
                for rid in rids:
                    if (held := self._tickets.get(rid)) is not None:
                        held.cancel(message)
                log.info(line("requests.cancelled", count=len(rids), why=message))
            case swap.ArmDrainTimer(epoch=epoch):
                assert self._config.drain_grace_s is not None  # armed only with a drain limit
                self._spawn(self._after(self._config.drain_grace_s, swap.DrainExpired(epoch)))
            case swap.ArmRestart(gen=gen, attempt=attempt):
                delay = min(
                    self._config.restart_backoff_s * 2 ** (attempt - 1), self._config.restart_backoff_max_s
                )
                log.warning(line("tier.restart_scheduled", tier=self.state.goal, attempt=attempt, in_s=delay))
                self._spawn(self._after(delay, swap.RestartDue(gen)))
            case swap.ArmResidency(gen=gen):
                self._spawn(self._after(self._config.min_residency_s, swap.ResidencyOver(gen)))
            case swap.Persist(tier=tier):
                self._persist(tier)
            case swap.SwapBegan(frm=frm, to=to):
                self._clock = SwapClock()
                log.info(line("swap.begin", frm=frm or "-", to=to))
            case swap.SwapEnded():
                self._swap_ended(action)

    async def _after(self, delay_s: float, event: swap.Event) -> None:
        await asyncio.sleep(delay_s)
        self._inbox.put_nowait(event)

    async def _load(self, gen: int, name: str) -> None:
        """The life of one llama-server: load it, then wait for it to exit (a crash) until cancelled."""
        tier = self._config.tier(name)
        try:
            holds = await self._holds() if tier.vram_mib else ()
            await check_fits(self._probe, name, tier.vram_mib, self._config.gpu.margin_mib, holds)
            if self._cache is not None:
                self._cache.prepare(name)
            await self._supervisor.start(
                lambda port: command(self._config, tier, port),
                timeout_s=tier.load_timeout_s,
                on_phase=self._enter_subphase,
            )
        except (SwapdError, OSError) as exc:
            log.warning(line("tier.load_failed", tier=name, error=exc))
            self._inbox.put_nowait(swap.LoadFailed(gen, str(exc)))
            return
        if self._cache is not None:
            self._enter_subphase("cache_restore")
            await self._cache.restore(name, self._supervisor.url)
        self._inbox.put_nowait(swap.Loaded(gen))
        reason = await self._supervisor.wait_exit()
        log.error(line("tier.crashed", tier=name, reason=reason))
        await self._supervisor.stop()
        self._inbox.put_nowait(swap.Crashed(gen, reason))

    async def _stop(self, gen: int, tier: str) -> None:
        if self._life is not None:
            self._life.cancel()
            await asyncio.wait([self._life])
        if self._cache is not None and self._supervisor.pid is not None:
            await self._cache.save(tier, self._supervisor.url)
        pid = self._supervisor.pid
        await self._supervisor.stop()
        if pid is not None:
            self._enter_subphase("vram_release")
            gpu = self._config.gpu
            try:
                if not await wait_released(
                    self._probe, pid, gpu.release_timeout_s, self._config.health_interval_s
                ):
                    log.warning(line("vram.not_released", pid=pid, after_s=gpu.release_timeout_s))
            except GpuProbeFailed as exc:  # the next load's VRAM check says whether it fits
                log.warning(line("vram.unknown", pid=pid, error=exc))
        self._inbox.put_nowait(swap.Stopped(gen))

    async def _auto_prewarm(self, name: str, margin_mib: int) -> None:
        """Keep the tier just left in the page cache, so swapping back reads RAM; only with room to spare."""
        try:
            path = model_path(self._config.tier(name))
            size_mib = path.stat().st_size // (1024 * 1024)
            available = mem_available_mib()
            if available is None or available - size_mib < margin_mib:
                log.info(line("prewarm.skipped", tier=name, size_mib=size_mib, available_mib=available))
                return
            done = await prewarm(path)
            log.info(line("prewarm.done", tier=name, bytes=done.bytes, took_s=done.took_s))
        except (SwapdError, OSError) as exc:
            log.warning(line("prewarm.failed", tier=name, error=exc))

    def _persist(self, tier: str | None) -> None:
        path = self._config.state_dir / STATE_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(tier or "", encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.error(line("state.persist_failed", path=path, error=exc.strerror))

    # --- reporting ---------------------------------------------------------------------------

    def _enter_subphase(self, phase: str) -> None:
        self._subphase = phase
        if self._clock is not None:
            self._clock.enter(phase)
        self._publish_state(None)

    def _phase_changed(self, before: swap.State) -> None:
        s = self.state
        phase = {swap.Phase.DRAINING: "drain", swap.Phase.STOPPING: "stop"}.get(s.phase)
        self._subphase = phase
        if self._clock is not None and s.phase is not swap.Phase.STARTING:
            self._clock.enter(phase)
        self.ready_since = time.monotonic() if s.phase is swap.Phase.READY else None
        if s.phase is not before.phase:
            log.info(line("tier.state", tier=s.current or s.goal or "-", state=s.phase.value))
        self._publish_state(1.0 if s.phase is swap.Phase.READY else None)

    def _publish_state(self, progress: float | None) -> None:
        s = self.state
        tier = s.current or s.goal
        message = {
            swap.Phase.STOPPED: "no tier loaded" if s.goal is None else f"about to load {s.goal}",
            swap.Phase.STARTING: f"loading {tier}",
            swap.Phase.READY: f"{tier} ready",
            swap.Phase.DRAINING: f"draining {tier} ({s.count(tier or '')} in flight)",
            swap.Phase.STOPPING: f"stopping {tier}",
            swap.Phase.FAILED: "no tier could be loaded; see `swapctl logs`",
        }[s.phase]
        self._hub.publish(
            "state",
            {
                "tier": tier,
                "state": s.phase.value,
                "phase": self._subphase,
                "progress": progress,
                "message": message,
            },
        )

    def _swap_ended(self, ended: swap.SwapEnded) -> None:
        clock = self._clock or SwapClock()
        clock.enter(None)
        took = round(time.monotonic() - clock.started, 3)
        report: dict[str, object] = {
            "from": ended.frm,
            "to": ended.to,
            "took_s": took,
            "phases": clock.phases,
            "ok": ended.ok,
            "error": ended.error,
        }
        self._clock = None
        self._metrics.swap_ended(ended.to, ended.ok, took, clock.phases)
        self.history.append({"at": round(time.time(), 3), **report})
        if ended.ok and ended.frm is not None and self._config.prewarm_margin_mib is not None:
            self._spawn(self._auto_prewarm(ended.frm, self._config.prewarm_margin_mib))
        if ended.ok:
            self.last_swap = {k: report[k] for k in ("from", "to", "took_s", "phases")}
            log.info(line("swap.done", frm=ended.frm or "-", tier=ended.to, took_s=took))
        else:
            log.warning(
                line("swap.failed", frm=ended.frm or "-", tier=ended.to, took_s=took, error=ended.error)
            )
        self._hub.publish("swap", report)
