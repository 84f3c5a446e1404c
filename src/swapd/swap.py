"""Tier switching as a pure state machine: `step(rules, state, event) -> (state, actions)`.

The machine decides; it never touches processes, sockets or clocks. `driver.py` carries out its
actions (admit a request, start or stop llama-server, arm a timer) and feeds the results back as
events, one at a time, from one task, so nothing here needs a lock.

Queue discipline (issue 4's anti-thrash) lives in `_admit` and `_next_tier`. Requests for the active
tier may go ahead of an older request for another tier, at most `batch_limit` of them per swap
(A B A B is served A A B B; 0 keeps strict FIFO), so no tier starves. After a tier becomes ready it
stays at least the minimum residency before a request (not an operator) may swap it away. Within a
tier the order is always FIFO.

A swap drains the old tier: requests in flight on it run to their end, however long they take.
Only a forced swap, or a configured drain limit (`drain_grace_s`) running out, cancels them
(decision 0011).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from swapd.config import Policy
from swapd.errors import IllegalTransition


class Phase(Enum):
    """The tier's lifecycle as clients see it (the `state` of the control API)."""

    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPING = "stopping"
    FAILED = "failed"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.STOPPED: frozenset({Phase.STARTING}),
    Phase.STARTING: frozenset({Phase.READY, Phase.STOPPED, Phase.FAILED}),
    Phase.READY: frozenset({Phase.DRAINING, Phase.STOPPED}),
    Phase.DRAINING: frozenset({Phase.READY, Phase.STOPPING, Phase.STOPPED}),
    Phase.STOPPING: frozenset({Phase.STOPPED}),
    Phase.FAILED: frozenset({Phase.STARTING}),
}


class Refusal(Enum):
    QUEUE_FULL = "queue_full"
    LOAD_FAILED = "load_failed"
    UNLOADED = "unloaded"


@dataclass(frozen=True)
class Rules:
    """What the machine needs from the config."""

    slots: Mapping[str, int]
    default: str
    policy: Policy
    max_queue: int
    batch_limit: int = 0  # requests for the active tier that may pass an older one for another tier
    residency: bool = False  # hold a freshly loaded tier until ResidencyOver before a request swaps it
    drain_limit: bool = False  # a drain cancels what is still running at DrainExpired; else it waits


@dataclass(frozen=True)
class Waiter:
    rid: int
    tier: str | None  # None: whichever tier is active when a slot frees


@dataclass(frozen=True)
class Swap:
    frm: str | None
    to: str


@dataclass(frozen=True)
class State:
    phase: Phase = Phase.STOPPED
    current: str | None = None  # the tier whose llama-server exists (starting, ready, draining, stopping)
    goal: str | None = None  # the tier wanted once the present transition ends; None = unloaded
    last: str | None = None  # the last tier that became ready: rollback target and auto's fallback
    rollback: str | None = None  # where to go if the present load fails
    rolling_back: bool = False
    gen: int = 0  # bumps with every load; reports about an older process are stale
    queue: tuple[Waiter, ...] = ()
    in_flight: Mapping[int, str] = field(default_factory=dict)
    pinned: str | None = None
    swap: Swap | None = None
    force: bool = False
    drain_epoch: int = 0
    restart_pending: bool = False
    restarts: int = 0
    passed_over: int = 0  # admissions that went ahead of the oldest request for another tier
    held: bool = False  # the minimum residency of the ready tier has not run out yet

    def count(self, tier: str) -> int:
        return sum(1 for t in self.in_flight.values() if t == tier)

    @property
    def stable(self) -> bool:
        return self.phase is Phase.READY and self.goal == self.current


# Events: what happened.
@dataclass(frozen=True)
class Arrive:
    rid: int
    tier: str | None


@dataclass(frozen=True)
class Leave:
    """A request finished, failed, or its client went away (queued or in flight)."""

    rid: int


@dataclass(frozen=True)
class SwapTo:
    cid: int
    tier: str
    force: bool = False


@dataclass(frozen=True)
class Pin:
    cid: int
    tier: str


@dataclass(frozen=True)
class Unpin:
    cid: int


@dataclass(frozen=True)
class Unload:
    cid: int


@dataclass(frozen=True)
class Loaded:
    gen: int


@dataclass(frozen=True)
class LoadFailed:
    gen: int
    reason: str


@dataclass(frozen=True)
class Stopped:
    gen: int


@dataclass(frozen=True)
class Crashed:
    gen: int
    reason: str


@dataclass(frozen=True)
class DrainExpired:
    epoch: int


@dataclass(frozen=True)
class RestartDue:
    gen: int


@dataclass(frozen=True)
class ResidencyOver:
    gen: int


Event = (
    Arrive
    | Leave
    | SwapTo
    | Pin
    | Unpin
    | Unload
    | Loaded
    | LoadFailed
    | Stopped
    | Crashed
    | DrainExpired
    | RestartDue
    | ResidencyOver
)


# Actions: what the driver must do.
@dataclass(frozen=True)
class Admit:
    rid: int
    tier: str


@dataclass(frozen=True)
class Reject:
    rid: int
    why: Refusal
    message: str


@dataclass(frozen=True)
class Answer:
    """The immediate reply to a control command (the outcome of a swap arrives as SwapEnded)."""

    cid: int
    ok: bool
    message: str


@dataclass(frozen=True)
class StartLoad:
    gen: int
    tier: str


@dataclass(frozen=True)
class StopTier:
    gen: int
    tier: str


@dataclass(frozen=True)
class CancelInFlight:
    rids: tuple[int, ...]
    message: str


@dataclass(frozen=True)
class ArmDrainTimer:
    epoch: int


@dataclass(frozen=True)
class ArmRestart:
    gen: int
    attempt: int


@dataclass(frozen=True)
class ArmResidency:
    gen: int


@dataclass(frozen=True)
class Persist:
    tier: str | None


@dataclass(frozen=True)
class SwapBegan:
    frm: str | None
    to: str


@dataclass(frozen=True)
class SwapEnded:
    frm: str | None
    to: str
    ok: bool
    error: str | None


Action = (
    Admit
    | Reject
    | Answer
    | StartLoad
    | StopTier
    | CancelInFlight
    | ArmDrainTimer
    | ArmRestart
    | ArmResidency
    | Persist
    | SwapBegan
    | SwapEnded
)


def _move(s: State, phase: Phase, **changes: object) -> State:
    if phase is not s.phase and phase not in TRANSITIONS[s.phase]:
        raise IllegalTransition(f"swap: {s.phase.value} -> {phase.value} is not allowed")
    return replace(s, phase=phase, **changes)  # type: ignore[arg-type]


def _serves(tier: str | None, current: str) -> bool:
    return tier is None or tier == current


def _admit(r: Rules, s: State, current: str, acts: list[Action]) -> State:
    """Admit queued requests for the active tier in FIFO order, passing older requests for other
    tiers at most `batch_limit` times."""
    queue = list(s.queue)
    passed = s.passed_over
    i = 0
    while i < len(queue) and s.count(current) < r.slots[current]:
        waiter = queue[i]
        if not _serves(waiter.tier, current):
            if r.batch_limit == 0:
                break
            i += 1
            continue
        if i > 0:  # an older request for another tier is waiting
            if passed >= r.batch_limit:
                break
            passed += 1
        queue.pop(i)
        acts.append(Admit(waiter.rid, current))
        s = replace(s, in_flight={**s.in_flight, waiter.rid: current})
    if all(_serves(w.tier, current) for w in queue):
        passed = 0
    return replace(s, queue=tuple(queue), passed_over=passed)


def _next_tier(r: Rules, s: State, current: str) -> str | None:
    """The tier to swap to for the oldest waiting request, once batching and residency allow it."""
    if not s.queue or _serves(s.queue[0].tier, current) or s.held:
        return None
    batchable = any(_serves(w.tier, current) for w in s.queue)
    if batchable and s.passed_over < r.batch_limit:
        return None
    return s.queue[0].tier


def _retarget(s: State, goal: str | None, acts: list[Action]) -> State:
    """Change where the machine is headed; a pending swap to another tier ends as superseded."""
    if s.swap is not None and s.swap.to != goal:
        why = f"superseded by a swap to {goal!r}" if goal else "superseded by an unload"
        acts.append(SwapEnded(s.swap.frm, s.swap.to, False, why))
        s = replace(s, swap=None)
    if goal is not None and goal != s.current and (s.swap is None or s.swap.to != goal):
        frm = s.current if s.phase is not Phase.STARTING else s.last
        acts.append(SwapBegan(frm, goal))
        s = replace(s, swap=Swap(frm, goal))
    return replace(s, goal=goal, restart_pending=False if goal != s.goal else s.restart_pending)


def _reject_queued(
    s: State, acts: list[Action], why: Refusal, message: str, tier: str | None = None
) -> State:
    """Refuse the queued requests for `tier` (all of them when tier is None)."""
    keep = []
    for w in s.queue:
        if tier is None or w.tier == tier:
            acts.append(Reject(w.rid, why, message))
        else:
            keep.append(w)
    return replace(s, queue=tuple(keep))


def _settle(r: Rules, s: State, acts: list[Action]) -> State:
    """Admit what can run, then take the next step toward the goal; repeats until nothing changes."""
    while True:
        before = s
        if s.stable and (current := s.current) is not None:
            s = _admit(r, s, current, acts)
            if (wanted := _next_tier(r, s, current)) is not None:
                s = _retarget(replace(s, passed_over=0), wanted, acts)
        elif s.phase in (Phase.STOPPED, Phase.FAILED) and s.goal is None and s.queue:
            s = _retarget(s, s.queue[0].tier or s.last or r.default, acts)

        if s.phase is Phase.READY and s.goal != s.current:
            s = _move(s, Phase.DRAINING, drain_epoch=s.drain_epoch + 1)
            rids = tuple(rid for rid, t in s.in_flight.items() if t == s.current)
            if s.force and rids:
                acts.append(
                    CancelInFlight(rids, f"cancelled by a forced swap to {s.goal!r}; retry the request")
                )
            elif rids and r.drain_limit:
                acts.append(ArmDrainTimer(s.drain_epoch))
        elif s.phase is Phase.DRAINING and s.goal == s.current:  # swapped back before the drain ended
            s = _move(s, Phase.READY, force=False)
        elif s.phase is Phase.DRAINING and (old := s.current) is not None and s.count(old) == 0:
            s = _move(s, Phase.STOPPING, force=False)
            acts.append(StopTier(s.gen, old))
        elif (
            s.phase in (Phase.STOPPED, Phase.FAILED)
            and (goal := s.goal) is not None
            and not s.restart_pending
        ):
            rollback = None
            if not s.rolling_back:
                rollback = s.last if s.last not in (None, goal) else None
                rollback = rollback or (r.default if goal != r.default else None)
            s = _move(s, Phase.STARTING, current=goal, gen=s.gen + 1, rollback=rollback)
            acts.append(StartLoad(s.gen, goal))
        if s == before:
            return s


def _arrive(r: Rules, s: State, e: Arrive, acts: list[Action]) -> State:
    tier = None if s.pinned is not None or r.policy is Policy.PINNED else e.tier
    s = _settle(r, replace(s, queue=(*s.queue, Waiter(e.rid, tier))), acts)
    if len(s.queue) > r.max_queue and any(w.rid == e.rid for w in s.queue):
        acts.append(
            Reject(e.rid, Refusal.QUEUE_FULL, f"swapd's queue is full ({r.max_queue} waiting); retry shortly")
        )
        s = replace(s, queue=tuple(w for w in s.queue if w.rid != e.rid))
    return s


def _leave(s: State, e: Leave) -> State:
    if e.rid in s.in_flight:
        return replace(s, in_flight={k: v for k, v in s.in_flight.items() if k != e.rid})
    # A rid in neither place was already refused; its late Leave changes nothing.
    return replace(s, queue=tuple(w for w in s.queue if w.rid != e.rid))


def _swap_to(s: State, tier: str, force: bool, cid: int, acts: list[Action]) -> State:
    s = replace(s, restarts=0)
    if s.stable and s.current == tier:
        acts.append(Answer(cid, True, f"{tier} is already ready"))
        return s
    if s.goal == tier:
        acts.append(Answer(cid, True, f"joined the swap to {tier}"))
        s = replace(s, restart_pending=False, force=s.force or force)
    else:
        acts.append(Answer(cid, True, f"swapping to {tier}"))
        s = replace(_retarget(replace(s, rolling_back=False), tier, acts), force=force)
    # A forced swap away from the current tier cancels what still runs on it: a drain already under
    # way (to this tier or another), or, while the tier restarts after a crash, requests admitted
    # before the crash that have not left yet (their llama-server is gone; cancelling them is harmless).
    rids = tuple(rid for rid, t in s.in_flight.items() if t == s.current)
    if force and tier != s.current and rids:
        acts.append(CancelInFlight(rids, f"cancelled by a forced swap to {tier!r}; retry the request"))
    return s


def _load_failed(r: Rules, s: State, e: LoadFailed, acts: list[Action]) -> State:
    failed = s.current
    assert failed is not None
    if s.swap is not None and s.swap.to == failed:
        acts.append(SwapEnded(s.swap.frm, failed, False, e.reason))
        s = replace(s, swap=None)
    s = _reject_queued(s, acts, Refusal.LOAD_FAILED, f"tier {failed!r} failed to load: {e.reason}", failed)
    pinned = None if s.pinned == failed else s.pinned
    if s.goal != failed:  # the operator moved on while it loaded
        return _move(s, Phase.STOPPED, current=None, pinned=pinned)
    if s.rollback is not None:
        s = _move(s, Phase.STOPPED, current=None, pinned=pinned, rolling_back=True)
        return _retarget(s, s.rollback, acts)
    s = _move(s, Phase.FAILED, current=None, goal=None, pinned=pinned, rolling_back=False)
    return _reject_queued(s, acts, Refusal.LOAD_FAILED, f"no tier could be loaded: {e.reason}")


def step(r: Rules, s: State, e: Event) -> tuple[State, list[Action]]:
    """Apply one event; returns the new state and what the driver must do, in order."""
    acts: list[Action] = []
    match e:
        case Arrive():
            return _arrive(r, s, e, acts), acts
        case Leave():
            s = _leave(s, e)
        case SwapTo(cid=cid, tier=tier, force=force):
            if s.pinned is not None and s.pinned != tier:
                acts.append(Answer(cid, False, f"tier {s.pinned!r} is pinned; run `swapctl unpin` first"))
                return s, acts
            s = _swap_to(s, tier, force, cid, acts)
        case Pin(cid=cid, tier=tier):
            # Everything already queued is now served by the pinned tier, whatever it named.
            queue = tuple(replace(w, tier=None) for w in s.queue)
            s = _swap_to(replace(s, pinned=tier, queue=queue), tier, False, cid, acts)
        case Unpin(cid=cid):
            acts.append(Answer(cid, True, "unpinned"))
            s = replace(s, pinned=None)
        case Unload(cid=cid):
            acts.append(Answer(cid, True, "unloading"))
            s = _reject_queued(
                replace(s, pinned=None), acts, Refusal.UNLOADED, "the tier was unloaded by the operator"
            )
            s = replace(_retarget(s, None, acts), swap=None)
            acts.append(Persist(None))
        case Loaded(gen=gen) if gen == s.gen and s.phase is Phase.STARTING:
            if s.swap is not None and s.swap.to == s.current:
                acts.append(SwapEnded(s.swap.frm, s.current, True, None))
                s = replace(s, swap=None)
            # The swap that loaded it is over, forced or not: a later drain is a new decision.
            s = _move(s, Phase.READY, last=s.current, rolling_back=False, held=r.residency, force=False)
            acts.append(Persist(s.current))
            if r.residency:
                acts.append(ArmResidency(s.gen))
        case LoadFailed(gen=gen) if gen == s.gen and s.phase is Phase.STARTING:
            s = _load_failed(r, s, e, acts)
        case Stopped(gen=gen) if gen == s.gen and s.phase is Phase.STOPPING:
            s = _move(s, Phase.STOPPED, current=None)
        case Crashed(gen=gen) if gen == s.gen and s.phase in (Phase.READY, Phase.DRAINING):
            restart = s.phase is Phase.READY
            s = _move(s, Phase.STOPPED, current=None, restart_pending=restart, force=False)
            if restart:
                s = replace(s, restarts=s.restarts + 1)
                acts.append(ArmRestart(s.gen, s.restarts))
        case RestartDue(gen=gen) if gen == s.gen and s.restart_pending:
            s = replace(s, restart_pending=False)
        case ResidencyOver(gen=gen) if gen == s.gen and s.held:
            s = replace(s, held=False)
        case DrainExpired(epoch=epoch) if (
            r.drain_limit and epoch == s.drain_epoch and s.phase is Phase.DRAINING
        ):
            rids = tuple(rid for rid, t in s.in_flight.items() if t == s.current)
            acts.append(CancelInFlight(rids, "cancelled: the swap's drain_grace_s ran out; retry"))
        case (
            Loaded() | LoadFailed() | Stopped() | Crashed() | RestartDue() | DrainExpired() | ResidencyOver()
        ):
            return s, acts  # a report about an older process or timer: stale by construction
    return _settle(r, s, acts), acts
