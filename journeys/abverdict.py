"""An A/B test's result from its counts: rates, uplifts, probability to be best, decision.

Pure (no I/O): the store counts recipients and conversions per variant
(`journeys.store.abtests`), this module judges them with `journeys.abstats`.

The decision rule (as Klaviyo's): a winner is called only when every variant in the
contest has at least `min_sample` recipients and the leader's probability to be best
is at least the threshold. Otherwise "not yet", with how many more recipients are
needed: each variant's shortfall below `min_sample`, or, once every variant has
enough, an estimate of the further sample if the observed rates hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from . import abstats
from .model_abtest import AbTest


class ArmCount(NamedTuple):
    """What the store counts for one variant."""

    variant: str
    holdout: bool  # a variant without a template: it is sent nothing
    recipients: int
    conversions: int
    # Shown, but out of the contest: no longer assigned (weight 0, or dropped from the
    # journey), so its sample would never grow.
    retired: bool = False


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Comparison(_Result):
    """This variant against another: rate difference and ratio, with 95 % intervals."""

    against: str
    absolute: float  # rate - the other's rate
    absolute_low: float
    absolute_high: float
    relative: float | None  # rate / the other's rate - 1; None when the other's is 0
    relative_low: float | None  # None while either has no conversion
    relative_high: float | None


class ArmResult(_Result):
    variant: str
    holdout: bool
    retired: bool
    recipients: int
    conversions: int
    rate: float | None  # None without recipients
    rate_low: float | None
    rate_high: float | None
    vs_holdout: Comparison | None
    vs_others: list[Comparison]
    probability_to_be_best: float | None  # None when not in the contest
    short_of_min_sample: int


class Decision(_Result):
    status: Literal["winner", "not_yet", "no_test"]
    winner: str | None
    more_needed: int | None  # further recipients in all; None when it cannot be estimated
    text: str


class AbTestResult(_Result):
    """One A/B test (journey, stage, action) over a period."""

    journey: str
    stage: str
    action: str
    metric: str  # goal, click, redemption or event:<type>
    within: str  # conversions count this long after the message was due
    min_sample: int
    threshold: float  # probability to be best a winner needs
    since: datetime | None
    until: datetime | None
    arms: list[ArmResult]
    decision: Decision


def _compare(a: ArmCount, b: ArmCount) -> Comparison | None:
    difference = abstats.newcombe(a.conversions, a.recipients, b.conversions, b.recipients)
    if difference is None:
        return None
    absolute, bounds = difference
    ratio, ratio_bounds = abstats.relative(a.conversions, a.recipients, b.conversions, b.recipients)
    return Comparison(
        against=b.variant,
        absolute=absolute,
        absolute_low=bounds.low,
        absolute_high=bounds.high,
        relative=ratio,
        relative_low=ratio_bounds.low if ratio_bounds else None,
        relative_high=ratio_bounds.high if ratio_bounds else None,
    )


def judge(
    counts: Sequence[ArmCount], test: AbTest, *, holdout_converts: bool = True
) -> tuple[list[ArmResult], Decision]:
    """Every variant's figures and the decision. `holdout_converts=False` (the click
    metric: a holdout has no message to click) leaves holdouts out of the contest."""
    contest = [a for a in counts if not a.retired and (holdout_converts or not a.holdout)]
    best = dict(
        zip(
            (a.variant for a in contest),
            abstats.probability_to_be_best([(a.conversions, a.recipients) for a in contest]),
            strict=True,
        )
    )
    holdout = next((a for a in contest if a.holdout), None)
    arms = []
    for arm in counts:
        rate = abstats.wilson(arm.conversions, arm.recipients)
        in_contest = arm.variant in best
        others = [o for o in contest if o is not arm] if in_contest else []
        arms.append(
            ArmResult(
                variant=arm.variant,
                holdout=arm.holdout,
                retired=arm.retired,
                recipients=arm.recipients,
                conversions=arm.conversions,
                rate=arm.conversions / arm.recipients if arm.recipients else None,
                rate_low=rate.low if rate else None,
                rate_high=rate.high if rate else None,
                vs_holdout=(
                    _compare(arm, holdout)
                    if holdout is not None and in_contest and arm is not holdout
                    else None
                ),
                vs_others=[c for o in others if (c := _compare(arm, o)) is not None],
                probability_to_be_best=best.get(arm.variant),
                short_of_min_sample=max(0, test.min_sample - arm.recipients) if in_contest else 0,
            )
        )
    return arms, decide(contest, best, test)


def decide(contest: Sequence[ArmCount], best: dict[str, float], test: AbTest) -> Decision:
    """The decision rule of the module's docstring."""
    if len(contest) < 2:
        return Decision(
            status="no_test",
            winner=None,
            more_needed=None,
            text="nothing to compare: fewer than two variants can convert on this metric",
        )
    short = {a.variant: test.min_sample - a.recipients for a in contest}
    short = {k: v for k, v in short.items() if v > 0}
    if short:
        total = sum(short.values())
        each = ", ".join(f"{k} {v:,}" for k, v in short.items())
        return Decision(
            status="not_yet",
            winner=None,
            more_needed=total,
            text=f"not yet: {total:,} more recipients needed ({each}) to reach "
            f"{test.min_sample:,} per variant",
        )
    leader = max(contest, key=lambda a: best[a.variant])
    chance = best[leader.variant]
    threshold = test.probability_to_be_best
    if chance >= threshold:
        name = f"{leader.variant} (sending nothing)" if leader.holdout else leader.variant
        return Decision(
            status="winner",
            winner=leader.variant,
            more_needed=0,
            text=f"winner: {name}, {_percent(chance)} probability to be best "
            f"(at least {threshold:.0%} needed)",
        )
    more = _further(leader, contest, threshold)
    base = (
        f"not yet: every variant has at least {test.min_sample:,} recipients, but the "
        f"leader {leader.variant} is {_percent(chance)} likely best ({threshold:.0%} needed)"
    )
    if more is None:
        return Decision(
            status="not_yet",
            winner=None,
            more_needed=None,
            text=f"{base}; the further sample needed cannot be estimated from these rates yet",
        )
    return Decision(
        status="not_yet",
        winner=None,
        more_needed=more,
        text=f"{base}; about {more:,} more recipients needed if the observed rates hold",
    )


def _percent(p: float) -> str:
    """One decimal, never rounded up to a certainty the figure does not have."""
    text = f"{p:.1%}"
    return ">99.9%" if text == "100.0%" and p < 1 else text


def _further(leader: ArmCount, contest: Sequence[ArmCount], threshold: float) -> int | None:
    """Further recipients in all for the leader to be `threshold` likely better than each
    rival if the observed rates hold (abstats.further_per_arm, pair by pair: each rival
    needs the sample of its pair, the leader the largest). None if no estimate: a rival
    converts as well as the leader, or the approximation says the sample is enough
    already (it is an approximation, and with three or more arms a lower bound)."""
    more = 0
    largest = 0
    for other in contest:
        if other is leader:
            continue
        need = abstats.further_per_arm(
            (leader.conversions, leader.recipients),
            (other.conversions, other.recipients),
            threshold,
        )
        if need is None:
            return None
        more += max(0, need - other.recipients)
        largest = max(largest, need)
    more += max(0, largest - leader.recipients)
    return more or None
