"""The pure swap machine: every decision, with no processes, sockets or clocks."""

from dataclasses import replace

import pytest

from swapd import swap
from swapd.config import Policy
from swapd.errors import IllegalTransition
from swapd.swap import (
    Admit,
    Answer,
    ArmDrainTimer,
    ArmRestart,
    CancelInFlight,
    Persist,
    Phase,
    Refusal,
    Reject,
    StartLoad,
    StopTier,
    SwapBegan,
    SwapEnded,
)

RULES = swap.Rules(
    slots={"fast": 2, "balanced": 1, "deep": 1}, default="fast", policy=Policy.ON_DEMAND, max_queue=3
)


def run(
    s: swap.State, *events: swap.Event, rules: swap.Rules = RULES
) -> tuple[swap.State, list[swap.Action]]:
    acts: list[swap.Action] = []
    for event in events:
        s, more = swap.step(rules, s, event)
        acts += more
    return s, acts


def ready(tier: str = "fast", rules: swap.Rules = RULES) -> swap.State:
    s, _ = run(swap.State(), swap.SwapTo(0, tier), rules=rules)
    s, _ = run(s, swap.Loaded(s.gen), rules=rules)
    assert s.phase is Phase.READY and s.current == tier
    return s


def test_boot_loads_the_tier_and_persists_it_once_ready() -> None:
    s, acts = run(swap.State(), swap.SwapTo(0, "deep"))
    assert s.phase is Phase.STARTING
    assert StartLoad(1, "deep") in acts
    s, acts = run(s, swap.Loaded(1))
    assert s.phase is Phase.READY
    assert Persist("deep") in acts
    assert SwapEnded(None, "deep", True, None) in acts


def test_requests_within_the_slots_are_admitted_and_the_rest_wait() -> None:
    s, acts = run(ready(), swap.Arrive(1, None), swap.Arrive(2, "fast"), swap.Arrive(3, None))
    assert [a for a in acts if isinstance(a, Admit)] == [Admit(1, "fast"), Admit(2, "fast")]
    assert [w.rid for w in s.queue] == [3]
    s, acts = run(s, swap.Leave(1))
    assert acts == [Admit(3, "fast")]
    assert s.queue == ()


def test_queue_bound_refuses_with_queue_full_and_drops_nothing_silently() -> None:
    s = ready()
    s, acts = run(s, *(swap.Arrive(i, None) for i in range(1, 7)))
    admitted = {a.rid for a in acts if isinstance(a, Admit)}
    refused = {a.rid for a in acts if isinstance(a, Reject)}
    queued = {w.rid for w in s.queue}
    assert admitted == {1, 2} and queued == {3, 4, 5} and refused == {6}
    assert all(a.why is Refusal.QUEUE_FULL for a in acts if isinstance(a, Reject))


def test_swap_drains_in_flight_before_stopping_and_serves_waiters_from_the_new_tier() -> None:
    s, _ = run(ready(), swap.Arrive(1, None))
    s, acts = run(s, swap.SwapTo(10, "deep"), swap.Arrive(2, None), swap.Arrive(3, "deep"))
    assert s.phase is Phase.DRAINING
    assert not any(isinstance(a, StopTier) for a in acts), "a running generation is never killed"
    s, acts = run(s, swap.Leave(1))
    assert StopTier(1, "fast") in acts
    s, acts = run(s, swap.Stopped(1))
    assert StartLoad(2, "deep") in acts
    s, acts = run(s, swap.Loaded(2))
    assert Admit(2, "deep") in acts  # the auto request waits for the new tier
    assert [w.rid for w in s.queue] == [3]  # deep has one slot
    assert SwapEnded("fast", "deep", True, None) in acts


def test_concurrent_swaps_to_the_same_tier_coalesce_into_one_load() -> None:
    s, acts = run(ready(), swap.SwapTo(1, "deep"), swap.SwapTo(2, "deep"), swap.Arrive(5, "deep"))
    s, more = run(s, swap.Stopped(s.gen))
    loads = [a for a in acts + more if isinstance(a, StartLoad)]
    assert loads == [StartLoad(2, "deep")]
    assert [a.message for a in acts if isinstance(a, Answer)] == [
        "swapping to deep",
        "joined the swap to deep",
    ]


def test_forced_swap_cancels_in_flight_requests() -> None:
    s, _ = run(ready(), swap.Arrive(1, None), swap.Arrive(2, None))
    s, acts = run(s, swap.SwapTo(9, "deep", force=True))
    cancel = next(a for a in acts if isinstance(a, CancelInFlight))
    assert set(cancel.rids) == {1, 2}
    assert "forced swap" in cancel.message
    s, acts = run(s, swap.Leave(1), swap.Leave(2))
    assert StopTier(1, "fast") in acts


def test_issue_13_without_a_drain_limit_a_swap_waits_for_every_running_request() -> None:
    s, _ = run(ready(), swap.Arrive(1, None), swap.Arrive(2, None))
    s, acts = run(s, swap.SwapTo(9, "deep"), swap.Arrive(3, "deep"))
    assert s.phase is Phase.DRAINING
    assert not any(isinstance(a, ArmDrainTimer | CancelInFlight) for a in acts)
    s, acts = run(s, swap.DrainExpired(s.drain_epoch))  # no timer was armed; one arriving changes nothing
    assert acts == [] and s.count("fast") == 2
    s, acts = run(s, swap.Leave(1))
    assert s.phase is Phase.DRAINING and acts == []
    s, acts = run(s, swap.Leave(2))
    assert acts == [StopTier(1, "fast")]


def test_drain_limit_expiry_cancels_what_is_left_and_stale_timers_do_nothing() -> None:
    rules = replace(RULES, drain_limit=True)
    s, acts = run(ready(rules=rules), swap.Arrive(1, None), swap.SwapTo(9, "deep"), rules=rules)
    assert ArmDrainTimer(s.drain_epoch) in acts
    stale, acts = run(s, swap.DrainExpired(s.drain_epoch - 1), rules=rules)
    assert stale == s and acts == []
    s, acts = run(s, swap.DrainExpired(s.drain_epoch), rules=rules)
    assert acts == [CancelInFlight((1,), "cancelled: the swap's drain_grace_s ran out; retry")]


def test_a_forced_swap_cuts_short_a_drain_already_under_way_to_another_tier() -> None:
    s, _ = run(ready(), swap.Arrive(1, None), swap.SwapTo(9, "deep"))
    s, acts = run(s, swap.SwapTo(10, "balanced", force=True))
    assert CancelInFlight((1,), "cancelled by a forced swap to 'balanced'; retry the request") in acts
    s, acts = run(s, swap.SwapTo(11, "fast", force=True))  # back to the tier in use: nothing to cancel
    assert s.phase is Phase.READY and not any(isinstance(a, CancelInFlight) for a in acts)


def test_a_forced_swap_during_a_restart_cancels_requests_left_from_before_the_crash() -> None:
    """Found by test_swap_properties: a forced swap while the tier restarted left them running."""
    s, _ = run(ready(), swap.Arrive(1, None), swap.Crashed(1, "exit -9"))
    s, _ = run(s, swap.RestartDue(s.gen))
    assert s.phase is Phase.STARTING and s.count("fast") == 1, "request 1 has not left yet"
    s, acts = run(s, swap.SwapTo(9, "balanced", force=True))
    assert CancelInFlight((1,), "cancelled by a forced swap to 'balanced'; retry the request") in acts


def test_a_forced_swap_that_joined_a_load_does_not_force_a_later_drain() -> None:
    s, _ = run(swap.State(), swap.SwapTo(0, "fast"), swap.SwapTo(1, "fast", force=True))
    s, acts = run(s, swap.Loaded(s.gen), swap.Arrive(1, None), swap.Arrive(2, "deep"))
    assert s.phase is Phase.DRAINING and s.count("fast") == 1, "the deep request swaps fast away"
    assert not any(isinstance(a, CancelInFlight) for a in acts)


def test_failed_load_rolls_back_and_refuses_only_the_requests_that_named_it() -> None:
    s, _ = run(ready(), swap.SwapTo(1, "deep"))
    s, _ = run(s, swap.Stopped(s.gen), swap.Arrive(7, "deep"), swap.Arrive(8, None))
    s, acts = run(s, swap.LoadFailed(s.gen, "llama-server ran out of memory"))
    assert SwapEnded("fast", "deep", False, "llama-server ran out of memory") in acts
    assert (
        Reject(7, Refusal.LOAD_FAILED, "tier 'deep' failed to load: llama-server ran out of memory") in acts
    )
    assert StartLoad(s.gen, "fast") in acts and s.current == "fast"
    s, acts = run(s, swap.Loaded(s.gen))
    assert Admit(8, "fast") in acts and Persist("fast") in acts


def test_failed_rollback_ends_in_failed_and_refuses_everyone() -> None:
    s, _ = run(ready(), swap.SwapTo(1, "deep"))
    s, _ = run(s, swap.Stopped(s.gen), swap.Arrive(8, None))
    s, _ = run(s, swap.LoadFailed(s.gen, "boom"))
    s, acts = run(s, swap.LoadFailed(s.gen, "boom again"))
    assert s.phase is Phase.FAILED and s.current is None
    assert Reject(8, Refusal.LOAD_FAILED, "no tier could be loaded: boom again") in acts
    s, acts = run(s, swap.Arrive(9, "balanced"))
    assert StartLoad(s.gen, "balanced") in acts, "a new request tries again"


def test_crash_while_serving_restarts_the_tier_after_a_growing_backoff() -> None:
    s = ready("balanced")
    s, acts = run(s, swap.Crashed(s.gen, "exit -9"))
    assert s.phase is Phase.STOPPED and acts == [ArmRestart(s.gen, 1)]
    s, acts = run(s, swap.Arrive(3, None))
    assert not any(isinstance(a, StartLoad) for a in acts), "the backoff is respected"
    s, acts = run(s, swap.RestartDue(s.gen))
    assert StartLoad(s.gen, "balanced") in acts
    s, _ = run(s, swap.Loaded(s.gen))
    s, acts = run(s, swap.Crashed(s.gen, "exit -9"))
    assert acts == [ArmRestart(s.gen, 2)]


def test_stale_reports_about_an_older_process_are_ignored() -> None:
    s = ready()
    for event in (
        swap.Loaded(0),
        swap.Stopped(0),
        swap.Crashed(0, "x"),
        swap.RestartDue(0),
        swap.LoadFailed(0, "x"),
    ):
        assert run(s, event) == (s, [])


def test_on_demand_request_for_another_tier_swaps_after_the_queue_ahead_of_it() -> None:
    s, acts = run(ready(), swap.Arrive(1, "deep"))
    assert s.goal == "deep" and s.phase is Phase.STOPPING
    assert SwapBegan("fast", "deep") in acts


def test_pinned_policy_serves_the_active_tier_whatever_the_request_names() -> None:
    rules = replace(RULES, policy=Policy.PINNED)
    s, acts = run(ready(rules=rules), swap.Arrive(1, "deep"), rules=rules)
    assert acts == [Admit(1, "fast")] and s.goal == "fast"


def test_pin_holds_the_tier_and_refuses_operator_swaps_elsewhere() -> None:
    s, acts = run(ready(), swap.Arrive(1, None), swap.Arrive(2, None), swap.Arrive(3, "deep"))
    s, acts = run(s, swap.Pin(5, "fast"))
    assert s.pinned == "fast" and s.goal == "fast"
    s, acts = run(s, swap.SwapTo(6, "deep"))
    assert acts == [Answer(6, False, "tier 'fast' is pinned; run `swapctl unpin` first")]
    s, acts = run(s, swap.Leave(1))
    assert Admit(3, "fast") in acts, "a queued request naming another tier is served by the pinned one"
    s, _ = run(s, swap.Unpin(7), swap.Arrive(8, "deep"))
    assert s.goal == "deep"


def test_unload_refuses_the_queue_stops_the_tier_and_persists_nothing_loaded() -> None:
    s, _ = run(ready("deep"), swap.Arrive(1, None), swap.Arrive(2, None))
    s, acts = run(s, swap.Unload(3))
    assert Reject(2, Refusal.UNLOADED, "the tier was unloaded by the operator") in acts
    assert Persist(None) in acts and s.goal is None
    s, acts = run(s, swap.Leave(1), swap.Stopped(s.gen))
    assert s.phase is Phase.STOPPED and not any(isinstance(a, StartLoad) for a in acts)


def test_a_swap_superseded_while_draining_reports_it() -> None:
    s, _ = run(ready(), swap.Arrive(1, None), swap.SwapTo(2, "deep"))
    s, acts = run(s, swap.SwapTo(3, "balanced"))
    assert SwapEnded("fast", "deep", False, "superseded by a swap to 'balanced'") in acts
    assert s.goal == "balanced"


def test_illegal_transitions_raise() -> None:
    with pytest.raises(IllegalTransition, match="stopped -> ready"):
        swap._move(swap.State(), Phase.READY)


BATCHING = replace(RULES, batch_limit=2, max_queue=8)


def test_requests_queued_during_a_load_are_batched_by_tier() -> None:
    """fast, deep, fast, deep queued while deep loads: both deeps first, then one swap for both fasts."""
    rules = BATCHING
    s, _ = run(ready(rules=rules), swap.SwapTo(0, "deep"), rules=rules)
    s, _ = run(s, swap.Stopped(s.gen), rules=rules)
    assert s.phase is Phase.STARTING
    s, _ = run(
        s,
        swap.Arrive(2, "fast"),
        swap.Arrive(3, "deep"),
        swap.Arrive(4, "fast"),
        swap.Arrive(5, "deep"),
        rules=rules,
    )
    s, acts = run(s, swap.Loaded(s.gen), rules=rules)
    assert [a for a in acts if isinstance(a, Admit)] == [Admit(3, "deep")]  # deep has one slot
    s, acts = run(s, swap.Leave(3), rules=rules)
    assert acts[0] == Admit(5, "deep")
    assert SwapBegan("deep", "fast") in acts, "no deep request left: fast is next, after 5 drains"
    s, acts = run(s, swap.Leave(5), rules=rules)
    assert StopTier(s.gen, "deep") in acts
    s, _ = run(s, swap.Stopped(s.gen), rules=rules)
    s, acts = run(s, swap.Loaded(s.gen), rules=rules)
    assert [a for a in acts if isinstance(a, Admit)] == [Admit(2, "fast"), Admit(4, "fast")]


def test_batching_is_bounded_so_the_other_tier_does_not_starve() -> None:
    rules = replace(BATCHING, slots={**RULES.slots, "fast": 1}, residency=True)
    s, _ = run(ready(rules=rules), swap.Arrive(1, "fast"), swap.Arrive(2, "deep"), rules=rules)
    s, _ = run(s, *(swap.Arrive(i, "fast") for i in (3, 4, 5)), rules=rules)
    admitted = []
    for rid in (1, 3, 4):
        s, acts = run(s, swap.Leave(rid), rules=rules)
        admitted += [a.rid for a in acts if isinstance(a, Admit)]
    assert admitted == [3, 4], "two may pass the deep request; 5 waits although fast is resident"
    assert s.goal == "fast" and s.passed_over == 2
    s, acts = run(s, swap.ResidencyOver(s.gen), rules=rules)
    assert s.goal == "deep" and s.passed_over == 0
    assert [w.rid for w in s.queue] == [2, 5]


def test_minimum_residency_holds_a_fresh_tier_against_requests_but_not_the_operator() -> None:
    rules = replace(RULES, residency=True)
    s, acts = run(swap.State(), swap.SwapTo(0, "fast"), rules=rules)
    s, acts = run(s, swap.Loaded(s.gen), rules=rules)
    assert swap.ArmResidency(s.gen) in acts and s.held
    s, acts = run(s, swap.Arrive(1, "deep"), rules=rules)
    assert s.goal == "fast" and [w.rid for w in s.queue] == [1]
    s, acts = run(s, swap.ResidencyOver(s.gen), rules=rules)
    assert s.goal == "deep" and SwapBegan("fast", "deep") in acts
    held, _ = run(ready(rules=rules), swap.SwapTo(5, "balanced"), rules=rules)
    assert held.goal == "balanced", "an operator swap ignores the residency"
