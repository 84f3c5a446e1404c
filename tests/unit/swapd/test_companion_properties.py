"""Random sequences of swaps, tier and companion loads and crashes, other GPU users and requests,
against the real driver, companions and routing, with the llama-servers, the GPUs and the timers
played by the test.

Invariants: a tier's llama-server is only ever started when it fits beside every companion that is
not failed (at its real use) plus the other GPU users and the margin; a tier's VRAM check never runs
while a companion is starting, and a refusal was really short (counting a companion that is not
loaded at what it declares); and a request for a companion is decided (admitted or refused) without
the swap machine moving, whatever swap is in progress.
"""

import asyncio
import contextlib
import itertools
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from swapd import driver as driver_module
from swapd import swap
from swapd.companions import Companions, State
from swapd.config import Config, parse
from swapd.driver import Driver, Ticket
from swapd.errors import LoadFailed, NotEnoughVram, TierUnavailable
from swapd.events import EventHub
from swapd.gpu import Gpu, GpuProbe, Hold, check_fits
from swapd.metrics import Metrics
from swapd.proxy import Proxy
from swapd.supervisor import OutputRing

GPU_MIB = 12288
TOTAL = 2 * GPU_MIB
MARGIN = 512
TIERS = ("fast", "deep")
COMPANIONS = ("fim", "embed")
ALIASES = {"fim": "coder", "embed": "vectors"}
PIDS = itertools.count(1000)
MODELS = Path(tempfile.mkdtemp(prefix="swapd-companion-properties-"))
for _name in COMPANIONS:
    (MODELS / f"{_name}.gguf").write_bytes(b"GGUF")
REAL_SLEEP = asyncio.sleep


class World:
    """The GPUs and the timers as the test sees them: what each llama-server uses, and pending sleeps."""

    def __init__(self) -> None:
        self.other = 0
        self.using: dict[str, int] = {}  # llama-server (tier or companion name) -> MiB it holds now
        self.timers: list[asyncio.Future[None]] = []

    async def snapshot(self) -> tuple[Gpu, ...]:
        used = self.other + sum(self.using.values())
        half = used // 2
        return (Gpu(0, "RTX 3060", used - half, GPU_MIB, 0, 40), Gpu(1, "RTX 3060", half, GPU_MIB, 0, 40))

    async def sleep(self, delay: float, result: Any = None) -> Any:
        """asyncio.sleep as the driver and companions see it: a zero delay yields, any other waits for
        the test to fire it, so no run depends on the wall clock."""
        if delay <= 0:
            return await REAL_SLEEP(0, result)
        timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.timers.append(timer)
        try:
            await timer
        finally:
            with contextlib.suppress(ValueError):
                self.timers.remove(timer)
        return result


class FakeServer:
    """Plays a llama-server for the Supervisor's callers: a load that ends when the test says, a crash
    on command, and memory in `World.using` while it exists (partly while loading, wholly once up)."""

    def __init__(
        self, world: World, usage: Callable[[str], tuple[int, int]], on_spawn: Callable[[str], None]
    ):
        self.world = world
        self.usage = usage  # name -> (MiB while loading, MiB once loaded)
        self.on_spawn = on_spawn
        self.ring = OutputRing()
        self.url = ""
        self.name: str | None = None
        self.load: asyncio.Future[bool] | None = None
        self.exit: asyncio.Future[str] | None = None
        self._pid: int | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    async def start(self, argv_for: Callable[[int], list[str]], **_: object) -> None:
        argv = argv_for(0)
        name = Path(argv[argv.index("--model") + 1]).stem
        self.on_spawn(name)
        self.name, self._pid, self.url = name, next(PIDS), f"http://{name}"
        self.world.using[name] = self.usage(name)[0]
        self.load = asyncio.get_running_loop().create_future()
        try:
            ok = await self.load
        except BaseException:
            self._gone()
            raise
        if not ok:
            self._gone()
            raise LoadFailed("llama-server exited with 1 while loading")
        self.world.using[name] = self.usage(name)[1]
        self.exit = asyncio.get_running_loop().create_future()

    async def wait_exit(self) -> str:
        assert self.exit is not None
        return await asyncio.shield(self.exit)

    async def stop(self) -> None:
        self._gone()

    def _gone(self) -> None:
        if self.name is not None:
            self.world.using.pop(self.name, None)
        self.name, self._pid, self.load, self.exit = None, None, None, None


def config(tier_mib: dict[str, int], companion_mib: dict[str, int]) -> Config:
    return parse(
        {
            "listen": "127.0.0.1",
            "llama_server": "/bin/llama-server",
            "state_dir": str(MODELS / "state"),
            "prompt_cache_max_mib": 0,
            "drain_grace_s": 30,
            "max_queue": 4,
            "gpu": {"backend": "none", "margin_mib": MARGIN},
            "tiers": [
                {"name": t, "model": f"/models/{t}.gguf", "ctx_size": 64, "vram_mib": tier_mib[t]}
                for t in TIERS
            ],
            "companions": [
                {
                    "name": c,
                    "aliases": [ALIASES[c]],
                    "model": str(MODELS / f"{c}.gguf"),
                    "ctx_size": 64,
                    "vram_mib": companion_mib[c],
                }
                for c in COMPANIONS
            ],
        }
    )


class CompanionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world = World()
        asyncio.sleep = self.world.sleep  # type: ignore[assignment]
        driver_module.check_fits = self.checked  # type: ignore[assignment]
        self.tasks: list[asyncio.Task[Any]] = []
        self.tickets: list[Ticket] = []
        self.waiting: list[asyncio.Task[Ticket]] = []

    @initialize(
        # Sizes near the edge, where a companion's hold decides whether a tier fits.
        tier_mib=st.fixed_dictionaries({t: st.just(0) | st.integers(19_000, TOTAL - MARGIN) for t in TIERS}),
        declared=st.fixed_dictionaries({c: st.sampled_from([3000, 1200, 0]) for c in COMPANIONS}),
        real=st.fixed_dictionaries({c: st.sampled_from([1.0, 0.6]) for c in COMPANIONS}),
        partial=st.fixed_dictionaries({c: st.floats(0, 1) for c in COMPANIONS}),
        other=st.integers(0, 2000),
    )
    def boot(
        self,
        tier_mib: dict[str, int],
        declared: dict[str, int],
        real: dict[str, float],
        partial: dict[str, float],
        other: int,
    ) -> None:
        self.world.other = other
        self.config = config(tier_mib, declared)
        # A companion really uses at most what it declares; part of that while it loads.
        self.real = {c: int(declared[c] * real[c]) for c in COMPANIONS}
        usage = {**{t: (tier_mib[t], tier_mib[t]) for t in TIERS}}
        usage.update({c: (int(self.real[c] * partial[c]), self.real[c]) for c in COMPANIONS})
        self.tier_server = FakeServer(self.world, usage.__getitem__, self.tier_spawned)
        self.companion_servers = {
            c: FakeServer(self.world, usage.__getitem__, lambda _: None) for c in COMPANIONS
        }
        hub, metrics = EventHub(), Metrics()
        self.companions = Companions(self.config, self.companion_servers, hub, metrics)  # type: ignore[arg-type]
        self.driver = Driver(
            self.config,
            self.tier_server,
            self.world,
            hub,
            metrics,
            holds=self.companions.holds,  # type: ignore[arg-type]
        )
        self.proxy = Proxy(self.config, self.driver, self.companions, None, (), metrics)  # type: ignore[arg-type]
        self.tasks = [
            self.loop.create_task(self.companions.run()),
            self.loop.create_task(self.driver.run("fast")),
        ]
        self.settle()

    # --- the invariants the issue asks for ---------------------------------------------------

    def tier_spawned(self, tier: str) -> None:
        """A tier's llama-server starts only where it fits beside every companion that is not failed."""
        need = self.config.tier(tier).vram_mib
        event("a tier started")
        if need == 0:
            return
        companions = sum(
            self.real[name] for name, s in self.companions.servers.items() if s.state is not State.FAILED
        )
        assert self.world.other + need + MARGIN + companions <= TOTAL, (
            f"{tier} ({need} MiB) started beside companions using {companions} MiB and {self.world.other} "
            f"MiB of other use, on {TOTAL} MiB"
        )

    async def checked(
        self, probe: GpuProbe, tier: str, need: int, margin: int, holds: tuple[Hold, ...] = ()
    ) -> None:
        """The driver's VRAM check, watched: never while a companion starts, and a refusal is real."""
        states = {name: s.state for name, s in self.companions.servers.items()}
        assert need == 0 or State.STARTING not in states.values(), f"checked {tier} while {states}"
        try:
            await check_fits(probe, tier, need, margin, holds)
        except NotEnoughVram:
            event("a tier load refused for VRAM")
            ready = sum(self.real[c] for c, state in states.items() if state is State.READY)
            held = sum(
                self.config.companion_for(c).vram_mib for c, st in states.items() if st is State.RESTARTING
            )  # type: ignore[union-attr]
            assert self.world.other + ready + held + need + margin > TOTAL, f"{tier} was refused but fits"
            raise

    # --- plumbing ----------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def settle(self) -> None:
        """Let every task run until all of them wait on something the test controls."""

        async def drain() -> None:
            for _ in range(200):
                await REAL_SLEEP(0)

        self.run(drain())

    def teardown(self) -> None:
        try:
            for task in [*self.tasks, *self.waiting]:
                task.cancel()
            if self.tasks or self.waiting:
                self.run(asyncio.wait([*self.tasks, *self.waiting]))
        finally:
            asyncio.sleep = REAL_SLEEP
            driver_module.check_fits = check_fits
            self.loop.close()

    # --- rules ---------------------------------------------------------------------------------

    @rule(tier=st.sampled_from(TIERS))
    def operator_swaps(self, tier: str) -> None:
        self.run(self.driver.command(lambda cid: swap.SwapTo(cid, tier)))
        self.settle()

    @rule(model=st.sampled_from([*TIERS, "auto"]))
    def tier_request_arrives(self, model: str) -> None:
        gate, name = self.proxy.route(model)
        assert gate is self.driver
        self.waiting.append(self.loop.create_task(gate.admit(name)))
        self.settle()
        for task in [t for t in self.waiting if t.done()]:
            self.waiting.remove(task)
            if task.exception() is None:
                self.tickets.append(task.result())

    @precondition(lambda self: self.tickets)
    @rule(data=st.data())
    def tier_request_ends(self, data: st.DataObject) -> None:
        ticket = self.tickets.pop(data.draw(st.integers(0, len(self.tickets) - 1)))
        self.driver.release(ticket)
        self.settle()

    @rule(name=st.sampled_from(COMPANIONS), alias=st.booleans())
    def companion_request(self, name: str, alias: bool) -> None:
        """Decided at once, from the companion's own state, whatever the swap machine is doing."""
        gate, routed = self.proxy.route(ALIASES[name] if alias else name)
        assert gate is self.companions and routed == name
        before = self.driver.state
        if not before.stable:
            event("a companion request during a swap")
        task = self.loop.create_task(gate.admit(routed))
        self.run(REAL_SLEEP(0))
        self.run(REAL_SLEEP(0))
        assert task.done(), "a companion request waited"
        assert self.driver.state is before, "a companion request moved the swap machine"
        ready = self.companions.servers[name].state is State.READY
        if ready:
            ticket = task.result()
            assert (ticket.kind, ticket.tier, ticket.upstream) == ("companion", name, f"http://{name}")
            gate.release(ticket)
        else:
            assert isinstance(task.exception(), TierUnavailable)
        self.settle()

    @precondition(lambda self: self.tier_server.load is not None and not self.tier_server.load.done())
    @rule(ok=st.booleans())
    def tier_load_ends(self, ok: bool) -> None:
        assert self.tier_server.load is not None
        self.tier_server.load.set_result(ok)
        self.settle()

    @precondition(lambda self: self.tier_server.exit is not None and not self.tier_server.exit.done())
    @rule()
    def tier_crashes(self) -> None:
        assert self.tier_server.exit is not None
        self.tier_server.exit.set_result("llama-server exited with -9")
        self.settle()

    def _companions_where(self, attr: str) -> list[FakeServer]:
        return [
            s for s in self.companion_servers.values() if (f := getattr(s, attr)) is not None and not f.done()
        ]

    @precondition(lambda self: self._companions_where("load"))
    @rule(data=st.data(), ok=st.booleans())
    def companion_load_ends(self, data: st.DataObject, ok: bool) -> None:
        server = data.draw(st.sampled_from(self._companions_where("load")))
        assert server.load is not None
        server.load.set_result(ok)
        self.settle()

    @precondition(lambda self: self._companions_where("exit"))
    @rule(data=st.data())
    def companion_crashes(self, data: st.DataObject) -> None:
        server = data.draw(st.sampled_from(self._companions_where("exit")))
        assert server.exit is not None
        server.exit.set_result("llama-server exited with -9")
        self.settle()

    @precondition(lambda self: self.world.timers)
    @rule(data=st.data())
    def a_timer_fires(self, data: st.DataObject) -> None:
        """A backoff, drain or restart timer runs out."""
        timer = self.world.timers[data.draw(st.integers(0, len(self.world.timers) - 1))]
        if not timer.done():
            timer.set_result(None)
        self.settle()

    @rule(mib=st.integers(0, 3000))
    def other_gpu_use_changes(self, mib: int) -> None:
        self.world.other = mib
        self.settle()

    @invariant()
    def driver_and_companions_alive(self) -> None:
        for task in self.tasks:
            assert not task.done() or task.cancelled(), task.exception() if task.done() else None


TestCompanionMachine = CompanionMachine.TestCase
TestCompanionMachine.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
