"""The decision rule over any counts: a winner only with the sample and the certainty the
test declares, otherwise "not yet" with the recipients still needed (computed here
again from the counts)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.abverdict import ArmCount, judge
from journeys.model import AbTest


@st.composite
def arm_counts(draw: st.DrawFn) -> list[ArmCount]:
    k = draw(st.integers(2, 4))
    arms = []
    for i in range(k):
        n = draw(st.integers(0, 3000))
        c = draw(st.integers(0, n))
        retired = draw(st.booleans()) if i > 1 else False
        arms.append(ArmCount(f"v{i}", i == k - 1 and draw(st.booleans()), n, c, retired))
    return arms


tests = st.builds(
    AbTest,
    min_sample=st.integers(1, 2000),
    probability_to_be_best=st.floats(0.5, 0.999),
)


@settings(max_examples=50, deadline=None)
@given(arm_counts(), tests, st.booleans())
def test_a_winner_only_with_the_sample_and_the_certainty(
    counts: list[ArmCount], test: AbTest, holdout_converts: bool
) -> None:
    arms, decision = judge(counts, test, holdout_converts=holdout_converts)
    contest = [a for a in counts if not a.retired and (holdout_converts or not a.holdout)]
    by_key = {a.variant: a for a in arms}
    assert [a.variant for a in arms] == [a.variant for a in counts]
    for arm in arms:
        in_contest = any(a.variant == arm.variant for a in contest)
        assert (arm.probability_to_be_best is not None) == in_contest
    if len(contest) < 2:
        assert decision.status == "no_test"
        return
    chances = [by_key[a.variant].probability_to_be_best or 0.0 for a in contest]
    assert sum(chances) == pytest.approx(1)
    short = sum(max(0, test.min_sample - a.recipients) for a in contest)
    if short:
        assert decision.status == "not_yet"
        assert decision.more_needed == short
        assert f"{short:,} more recipients needed" in decision.text
    elif max(chances) >= test.probability_to_be_best:
        assert decision.status == "winner"
        assert decision.winner is not None
        assert by_key[decision.winner].probability_to_be_best == max(chances)
        assert decision.text.startswith(f"winner: {decision.winner}")
    else:
        assert decision.status == "not_yet"
        assert decision.winner is None
        assert decision.more_needed is None or decision.more_needed > 0
        assert "likely best" in decision.text
    for arm in arms:
        if arm.rate is not None:
            assert arm.rate_low is not None and arm.rate_high is not None
            assert arm.rate_low <= arm.rate <= arm.rate_high
        for comparison in arm.vs_others:
            assert comparison.absolute_low <= comparison.absolute <= comparison.absolute_high


def test_samples_enough_but_no_certainty_estimates_the_further_sample() -> None:
    counts = [ArmCount("a", False, 5000, 500), ArmCount("b", False, 5000, 520)]
    _, decision = judge(counts, AbTest())
    assert decision.status == "not_yet"
    # Per arm, (z_0.9 / d)^2 (p1 q1 + p2 q2) with d = 0.004: written out here again.
    z = 1.2815515655446004
    per_arm = (z / 0.004) ** 2 * (0.104 * 0.896 + 0.1 * 0.9)
    assert decision.more_needed == 2 * (int(per_arm) + 1 - 5000)
    assert "if the observed rates hold" in decision.text


def test_equal_rates_give_no_estimate() -> None:
    counts = [ArmCount("a", False, 900, 90), ArmCount("b", False, 900, 90)]
    _, decision = judge(counts, AbTest(min_sample=100))
    assert (decision.status, decision.more_needed) == ("not_yet", None)
    assert "cannot be estimated" in decision.text


def test_the_holdout_may_win() -> None:
    counts = [ArmCount("mail", False, 2000, 20), ArmCount("none", True, 2000, 90)]
    _, decision = judge(counts, AbTest(min_sample=500))
    assert decision.winner == "none"
    assert "sending nothing" in decision.text


def test_impossible_counts_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="conversions <= n"):
        judge([ArmCount("a", False, 5, 6), ArmCount("b", False, 5, 1)], AbTest())
