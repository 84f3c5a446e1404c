"""Random sequences of requests, swaps, crashes and cancels against the pure swap machine.

A model of the driver stands in for the processes: it remembers which loads, stops and timers are
pending and completes them when hypothesis says so. Invariants: at most one llama-server alive,
no request lost, admission only to the live tier within its slots, a consistent state; and the
anti-thrash rules: FIFO within a tier, at most `batch_limit` requests pass an older one for another
tier, and a request never swaps a tier away during its minimum residency; and issue 13's drain: only a
forced swap, or a configured drain limit running out, cancels a request.
"""

from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from swapd import swap
from swapd.config import Policy
from swapd.swap import Phase

TIERS = ("fast", "balanced", "deep")
SLOTS = {"fast": 2, "balanced": 1, "deep": 1}
tiers = st.sampled_from(TIERS)


class SwapMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rules = swap.Rules(
            slots=SLOTS, default="fast", policy=Policy.ON_DEMAND, max_queue=4, batch_limit=2, residency=True
        )
        self.state = swap.State()
        self.alive: set[int] = set()  # gens of llama-servers that exist
        self.loading: int | None = None
        self.stopping: int | None = None
        self.drain_timers: list[int] = []
        self.restart_timers: list[int] = []
        self.residency_timers: list[int] = []
        self.labels: dict[int, str | None] = {}  # the tier each request named
        self.order: dict[str | None, list[int]] = {}  # admissions per named tier, in order
        self.pinned_ever = False
        self.next_id = 1
        self.arrived: set[int] = set()
        self.rejected: set[int] = set()
        self.left: set[int] = set()
        self.admitted: dict[int, str] = {}
        self.apply(swap.SwapTo(0, "fast"))

    @initialize(drain_limit=st.booleans())
    def configure(self, drain_limit: bool) -> None:
        self.rules = replace(self.rules, drain_limit=drain_limit)

    def apply(self, event: swap.Event) -> None:
        before = self.state
        self.state, actions = swap.step(self.rules, self.state, event)
        # Operators may swap at any time; the end of the residency is itself the moment a request may.
        exempt = isinstance(event, (swap.SwapTo, swap.Pin, swap.Unload, swap.ResidencyOver))
        for action in actions:
            match action:
                case swap.StartLoad(gen=gen):
                    assert not self.alive, "a load started while another llama-server exists"
                    self.alive.add(gen)
                    self.loading = gen
                case swap.StopTier(gen=gen):
                    assert gen in self.alive
                    self.stopping = gen
                case swap.Admit(rid=rid, tier=tier):
                    assert tier == self.state.current and self.state.gen in self.alive
                    assert rid in self.arrived and rid not in self.admitted
                    self.admitted[rid] = tier
                    self.order.setdefault(self.labels[rid], []).append(rid)
                case swap.SwapBegan() if not exempt and before.phase is Phase.READY:
                    assert not before.held, "a request swapped a tier away during its minimum residency"
                case swap.ArmResidency(gen=gen):
                    self.residency_timers.append(gen)
                case swap.Reject(rid=rid):
                    assert rid not in self.admitted
                    self.rejected.add(rid)
                case swap.ArmDrainTimer(epoch=epoch):
                    assert self.rules.drain_limit, "a drain timer without a drain limit"
                    self.drain_timers.append(epoch)
                case swap.CancelInFlight():
                    forced = isinstance(event, swap.SwapTo) and event.force
                    timed_out = isinstance(event, swap.DrainExpired) and self.rules.drain_limit
                    assert forced or timed_out, f"{event} cancelled requests that were still running"
                case swap.ArmRestart(gen=gen):
                    self.restart_timers.append(gen)
        s = self.state
        accepted = any(isinstance(a, swap.Answer) and a.ok for a in actions)
        if isinstance(event, swap.SwapTo) and event.force and accepted and event.tier != s.current:
            cancelled = {rid for a in actions if isinstance(a, swap.CancelInFlight) for rid in a.rids}
            running = {rid for rid, tier in s.in_flight.items() if tier == s.current}
            assert running <= cancelled, "a forced swap left the old tier's requests running"

    @rule(tier=st.none() | tiers)
    def arrive(self, tier: str | None) -> None:
        rid, self.next_id = self.next_id, self.next_id + 1
        self.arrived.add(rid)
        self.labels[rid] = tier
        self.apply(swap.Arrive(rid, tier))

    @precondition(lambda self: self.state.in_flight or self.state.queue)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        candidates = sorted([*self.state.in_flight, *(w.rid for w in self.state.queue)])
        rid = data.draw(st.sampled_from(candidates))
        self.left.add(rid)
        self.apply(swap.Leave(rid))

    @rule(tier=tiers, force=st.booleans())
    def swap_to(self, tier: str, force: bool) -> None:
        self.apply(swap.SwapTo(0, tier, force))

    @rule(tier=tiers)
    def pin(self, tier: str) -> None:
        self.pinned_ever = True
        self.apply(swap.Pin(0, tier))

    @rule()
    def unpin(self) -> None:
        self.apply(swap.Unpin(0))

    @rule()
    def unload(self) -> None:
        self.apply(swap.Unload(0))

    @precondition(lambda self: self.loading is not None)
    @rule(ok=st.booleans())
    def finish_load(self, ok: bool) -> None:
        gen, self.loading = self.loading, None
        assert gen is not None
        if ok:
            self.apply(swap.Loaded(gen))
        else:
            self.alive.discard(gen)
            self.apply(swap.LoadFailed(gen, "boom"))

    @precondition(lambda self: self.stopping is not None)
    @rule()
    def finish_stop(self) -> None:
        gen, self.stopping = self.stopping, None
        assert gen is not None
        self.alive.discard(gen)
        self.apply(swap.Stopped(gen))

    @precondition(lambda self: self.state.phase in (Phase.READY, Phase.DRAINING))
    @rule()
    def crash(self) -> None:
        self.alive.discard(self.state.gen)
        self.apply(swap.Crashed(self.state.gen, "exit -9"))

    @precondition(lambda self: self.drain_timers)
    @rule()
    def drain_expires(self) -> None:
        self.apply(swap.DrainExpired(self.drain_timers.pop(0)))

    @precondition(lambda self: self.restart_timers)
    @rule()
    def restart_due(self) -> None:
        self.apply(swap.RestartDue(self.restart_timers.pop(0)))

    @precondition(lambda self: self.residency_timers)
    @rule()
    def residency_over(self) -> None:
        self.apply(swap.ResidencyOver(self.residency_timers.pop(0)))

    @rule()
    def everything_finishes(self) -> None:
        """Liveness: complete every load, stop, timer and request; then nothing is left waiting."""
        for _ in range(200):
            if self.loading is not None:
                self.finish_load(True)
            elif self.stopping is not None:
                self.finish_stop()
            elif self.restart_timers:
                self.restart_due()
            elif self.residency_timers:
                self.residency_over()
            elif self.state.in_flight:
                rid = min(self.state.in_flight)
                self.left.add(rid)
                self.apply(swap.Leave(rid))
            else:
                break
        assert not self.state.queue, f"requests left waiting in {self.state}"
        assert self.state.phase in (Phase.READY, Phase.STOPPED, Phase.FAILED), self.state

    @invariant()
    def at_most_one_llama_server(self) -> None:
        assert len(self.alive) <= 1

    @invariant()
    def no_request_is_lost(self) -> None:
        queued = {w.rid for w in self.state.queue}
        in_flight = set(self.state.in_flight)
        done = self.rejected | self.left
        for rid in self.arrived:
            places = (rid in queued) + (rid in in_flight) + (rid in done and rid not in queued | in_flight)
            assert places == 1, f"request {rid} is in {places} places"

    @invariant()
    def admission_respects_slots_and_queue_bound(self) -> None:
        for tier, limit in SLOTS.items():
            assert self.state.count(tier) <= limit
        assert len(self.state.queue) <= self.rules.max_queue

    @invariant()
    def state_is_consistent(self) -> None:
        s = self.state
        if s.phase in (Phase.STOPPED, Phase.FAILED):
            assert s.current is None
        else:
            assert s.current is not None and s.gen in self.alive
        if s.stable and (current := s.current) is not None and s.queue:
            full = s.count(current) == SLOTS[current]
            if s.queue[0].tier in (None, current):
                assert full, "idle while the oldest request could run"
            else:
                batching = any(w.tier in (None, current) for w in s.queue) and s.passed_over < 2 and full
                assert s.held or batching, "neither swapping for the oldest request nor batching"
        if s.pinned is not None:
            assert all(w.tier is None for w in s.queue)

    @invariant()
    def fifo_within_a_tier_and_bounded_batching(self) -> None:
        assert self.state.passed_over <= self.rules.batch_limit
        if not self.pinned_ever:  # a pin relabels the queue
            for rids in self.order.values():
                assert rids == sorted(rids)


SwapMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestSwapMachine = SwapMachine.TestCase
