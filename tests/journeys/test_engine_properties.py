"""Properties of the stage engine over random event sequences.

Scripts mix the event types a journey reacts to with noise, random ratings and
amounts, clock ticks, and replays of events already applied; timestamps are either
monotone or shuffled (events that arrive late). Whatever happens, the engine must be
deterministic, idempotent on replay, and keep its bookkeeping consistent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jf_factories import (
    POST_PURCHASE_YAML,
    Driver,
    at,
    build_journey,
    make_event,
    of_type,
)

from journeys.decisions import Ended, Enrolled, Event, Outcome, ScheduledAction
from journeys.model import EventTrigger, Journey
from journeys.validate import check_graph

LIFECYCLE_YAML = """
journey: lifecycle
version: 1
name: Subscription lifecycle
reentry: {policy: after_cooldown, cooldown: 20d}
exit: [{event: account.closed}]
stages:
  - key: trial
    enter_when: {event: trial.started}
    on_enter:
      - email: welcome
      - after: 2d
        email: tips
      - after: 10d
        move_to: trial_ending
        when: "customer.plan != 'paid'"
  - key: trial_ending
    on_enter:
      - sms: trial_ending
  - key: active
    enter_when: {event: subscription.started, from: [trial, trial_ending, at_risk]}
    on_enter:
      - set_attribute: {plan: paid}
      - webhook: crm_sync
  - key: at_risk
    enter_when: {no_event_for: 14d, from: [active]}
    on_enter:
      - email: we_miss_you
        variants:
          - {key: a, weight: 1, template: we_miss_you_a}
          - {key: holdout, weight: 1}
      - after: 7d
        move_to: churned
  - key: churned
    enter_when:
      - {after: 5d, from: [trial_ending]}
      - {event: subscription.cancelled, where: "rating != 3"}
    final: true
"""

# A loop with delays on both sides, left only by a purchase: timers keep firing.
NURTURE_YAML = """
journey: nurture
version: 1
name: Lead nurture
stages:
  - key: lead
    enter_when: {event: lead.created}
    on_enter:
      - email: intro
      - after: 1d
        move_to: nudge
  - key: nudge
    on_enter:
      - email: nudge
        when: "customer.country == 'DE'"
      - after: 3d
        move_to: lead
  - key: converted
    enter_when: {event: order.completed, where: "total > 0", from: [lead, nudge]}
    on_enter:
      - set_attribute: {customer: true}
      - move_to: onboarded
  - key: onboarded
    on_enter:
      - email: welcome_customer
        when: "customer.customer == true"
    final: true
"""

# Entered by a segment that time makes true, as well as by an event.
WINBACK_YAML = """
journey: winback
version: 1
name: Win back
reentry: {policy: after_cooldown, cooldown: 20d}
exit: [{event: account.closed}]
stages:
  - key: lapsed
    enter_when:
      - {event: trial.started}
      - {segment: "customer.last_order_at < now - 30d and country == 'DE'"}
    on_enter:
      - email: we_miss_you
      - after: 5d
        move_to: gone
  - key: back
    enter_when: {event: order.completed, from: [lapsed]}
    final: true
  - key: gone
    final: true
"""

# Moves by segments: one that holds on entry (at once), one that time makes true.
TIERS_YAML = """
journey: tiers
version: 1
name: Tiers
reentry: {policy: always}
exit: [{event: account.closed}]
stages:
  - key: member
    enter_when: {event: trial.started}
  - key: vip
    enter_when: {segment: "country == 'DE'", from: [member]}
    on_enter: [{email: vip_welcome}]
  - key: lapsed
    enter_when:
      - {segment: "customer.last_order_at < now - 30d", from: [member, vip]}
    on_enter: [{email: we_miss_you}]
  - key: back
    enter_when: {event: order.completed, from: [lapsed]}
    final: true
"""

JOURNEYS: dict[str, Journey] = {
    "winback": build_journey(WINBACK_YAML),
    "tiers": build_journey(TIERS_YAML),
    "post_purchase": build_journey(POST_PURCHASE_YAML, reentry={"policy": "always"}),
    "lifecycle": build_journey(LIFECYCLE_YAML),
    "nurture": build_journey(NURTURE_YAML),
}
NOISE = ("page.viewed", "email.opened")
HORIZON_HOURS = 160 * 24


def event_types(journey: Journey) -> list[str]:
    types = [t.event for s in journey.stages for t in s.enter_when if isinstance(t, EventTrigger)]
    types += [r.event for r in journey.exit]
    if journey.goal:
        types.append(journey.goal.event)
    return sorted(set(types)) + list(NOISE)


@dataclass(frozen=True)
class Step:
    kind: str  # "event", "tick" or "replay"
    hours: int  # event time, or tick time; for a replay, which applied event (modulo)
    type: str = ""
    data: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Script:
    journey: str
    steps: tuple[Step, ...]


@st.composite
def scripts(draw: st.DrawFn, replays: bool = True, monotone: bool | None = None) -> Script:
    name = draw(st.sampled_from(sorted(JOURNEYS)))
    types = event_types(JOURNEYS[name])
    kinds = ["event", "event", "event", "tick", *(["replay"] if replays else [])]
    if monotone is None:
        monotone = draw(st.booleans())
    steps: list[Step] = []
    clock = 0
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(kinds))
        if kind == "replay":
            steps.append(Step("replay", draw(st.integers(0, 50))))
            continue
        if monotone:
            clock += draw(st.integers(0, 20 * 24))
            hours = min(clock, HORIZON_HOURS)
        else:
            hours = draw(st.integers(0, HORIZON_HOURS))
        if kind == "tick":
            steps.append(Step("tick", hours))
            continue
        data = (("rating", draw(st.integers(1, 5))), ("total", draw(st.sampled_from([0, 20]))))
        steps.append(Step("event", hours, draw(st.sampled_from(types)), data))
    return Script(name, tuple(steps))


@dataclass(frozen=True)
class Played:
    step: Step
    outcome: Outcome
    replayed: Event | None = None
    overtaken: bool = False  # the replayed event had been overtaken by an earlier one


def play(script: Script) -> tuple[Driver, list[Played]]:
    """Run a script; events are numbered in order, so the same script gives the same ids."""
    d = Driver(JOURNEYS[script.journey], attributes={"last_order_at": at(h=0).isoformat()})
    played = []
    for step in script.steps:
        if step.kind == "tick":
            played.append(Played(step, d.tick(at(h=step.hours))))
        elif step.kind == "event":
            event_id = f"e{len(d.applied)}"
            event = make_event(
                step.type, at(h=step.hours), d.customer_id, event_id, **dict(step.data)
            )
            played.append(Played(step, d.apply(event)))
        elif d.applied:
            event = d.applied[step.hours % len(d.applied)]
            outcome = d.apply(event, replay=True)
            played.append(Played(step, outcome, event, d.overtaken(event)))
    return d, played


def without_replays(script: Script) -> Script:
    return Script(script.journey, tuple(s for s in script.steps if s.kind != "replay"))


def test_the_journeys_under_test_pass_the_graph_checks() -> None:
    # Properties over a journey the validator would refuse would prove little.
    for name, journey in JOURNEYS.items():
        assert check_graph(journey, {}, name) == [], name


PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY
@given(scripts())
def test_same_input_gives_the_same_decisions(script: Script) -> None:
    first, first_outcomes = play(script)
    second, second_outcomes = play(script)

    assert first.log == second.log
    assert first.state == second.state
    assert [p.outcome for p in first_outcomes] == [p.outcome for p in second_outcomes]


@PROPERTY
@given(scripts())
def test_replaying_an_applied_event_changes_nothing(script: Script) -> None:
    d, played = play(script)

    before = None
    for p in played:
        # The guarantee needs arrival in occurred_at order up to the replayed event:
        # an event that arrived before an earlier one (or before the enrollment that
        # the earlier one started) was judged against a state it no longer matches.
        if p.replayed is not None and not p.overtaken:
            assert p.outcome.decisions == ()
            assert p.outcome.state == before
        before = p.outcome.state
    if not any(p.overtaken for p in played):
        # Replays leave no trace: the run is the same as the one without them.
        plain, _ = play(without_replays(script))
        assert d.log == plain.log
        assert d.state == plain.state


@PROPERTY
@given(scripts(monotone=True))
def test_with_events_in_time_order_every_replay_changes_nothing(script: Script) -> None:
    d, played = play(script)

    for p in played:
        assert not p.overtaken
        if p.replayed is not None:
            assert p.outcome.decisions == ()
    plain, _ = play(without_replays(script))
    assert d.log == plain.log
    assert d.state == plain.state


@PROPERTY
@given(scripts())
def test_bookkeeping_stays_consistent(script: Script) -> None:
    d, played = play(script)
    journey = d.journey

    states = [p.outcome.state for p in played if p.outcome.state is not None]
    numbers = [state.number for state in states]
    assert numbers == sorted(numbers), "an enrollment number never goes back"
    assert all(state.stage in journey.stage_map for state in states)

    # The history explains the state: its last transition and whether it ended.
    if d.state is not None:
        last = [t for t in d.transitions if t.number == d.state.number][-1]
        assert (last.to_stage, last.stage_entry) == (d.state.stage, d.state.stage_entry)
        ended = [e for e in of_type(d.log, Ended) if e.number == d.state.number]
        assert len(ended) == (0 if d.state.active else 1)
        if ended:
            assert (ended[0].reason, ended[0].at) == (d.state.status, d.state.ended_at)

    transitions = d.transitions
    times = [t.at for t in transitions]
    assert times == sorted(times), "transitions are recorded in time order"

    entries: dict[int, list[int]] = defaultdict(list)
    entered_at: dict[tuple[int, int], tuple[str, Any]] = {}
    for t in transitions:
        entries[t.number].append(t.stage_entry)
        entered_at[t.number, t.stage_entry] = (t.to_stage, t.at)
    for number, seen in entries.items():
        assert seen == list(range(1, len(seen) + 1)), f"stage entries of enrollment {number}"

    enrolled = of_type(d.log, Enrolled)
    assert [e.number for e in enrolled] == list(range(1, len(enrolled) + 1))
    policy = journey.reentry
    if policy.policy == "never":
        assert len(enrolled) <= 1
    ends = {e.number: e for e in of_type(d.log, Ended)}
    for e in enrolled[1:]:
        previous_end = ends[e.number - 1]  # a re-entry needs the previous one to have ended
        assert e.at > previous_end.at
        if policy.policy == "after_cooldown":
            assert policy.cooldown is not None
            assert e.at >= previous_end.at + policy.cooldown

    actions = of_type(d.log, ScheduledAction)
    keys = [a.idempotency_key for a in actions]
    assert len(keys) == len(set(keys)), "every action is scheduled under its own key"
    for a in actions:
        stage, when = entered_at[a.number, a.stage_entry]
        assert a.stage == stage
        assert a.due_at >= when


@settings(max_examples=200, deadline=None)
@given(scripts(replays=False), st.data())
def test_replay_at_any_later_point_changes_nothing(script: Script, data: st.DataObject) -> None:
    d, _ = play(script)
    in_order = [e for e in d.applied if not d.overtaken(e)]
    if not in_order:
        return
    event = data.draw(st.sampled_from(in_order))
    later = d.now + timedelta(hours=data.draw(st.integers(0, 24 * 400)))
    state, log = d.state, list(d.log)

    outcome = d.apply(event, now=later, replay=True)

    assert outcome.decisions == ()
    assert outcome.state == state
    assert d.log == log


def test_a_long_quiet_spell_fires_every_timer_before_the_event() -> None:
    # 129 days of a 1d/3d loop are about 64 moves: all fire with the event, so its
    # replay has nothing left to fire.
    lead = (("rating", 1), ("total", 0))
    script = Script(
        "nurture",
        (Step("event", 0, "lead.created", lead), Step("event", 3096, "lead.created", lead)),
    )
    d, _ = play(Script(script.journey, (*script.steps, Step("replay", 1))))
    assert d.transitions[-1].at > at(h=3096 - 96)
    plain, _ = play(script)
    assert d.log == plain.log
