"""Promo codes: issued with the review request, redeemed by an order that names them,
the redemption rate and the value the redeeming orders carry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from report_factories import DAY, T0, Shop
from sqlalchemy import Engine

from journeys.store import session_scope
from journeys.store.outbox.claimed import ClaimedAction
from journeys.store.reports import Period, PromoRow, promos

H = timedelta(hours=1)
HELD = {"q3": ("skipped", "no consent"), "q4": ("deferred", "quiet hours")}


def held_back(action: ClaimedAction) -> tuple[str, str | None]:
    return HELD.get(action.customer.external_id, ("sent", None))


@pytest.fixture
def shop(engine: Engine) -> Shop:
    """q0 … q6 get a review request with a code at T0 + 3d 1h, except q3 (no consent)
    and q4 (deferred); q0, q1 and q6 redeem theirs, q5 tries after it expired."""
    shop = Shop(engine)
    for i in range(7):
        shop.event("product.viewed", f"q{i}", T0 - 2 * H, {"country": "DE" if i < 4 else "AT"})
        shop.event("order.completed", f"q{i}", T0 - H)
        shop.event("order.delivered", f"q{i}", T0)
    shop.dispatch(T0 + 3 * DAY + H, held_back)
    codes = shop.codes()
    # Typed as a customer would: lower case, spaces for dashes.
    typed = codes["q0"].lower().replace("-", " ")
    shop.event("order.completed", "q0", T0 + 5 * DAY, promo_code=typed, total=99.5, currency="EUR")
    shop.event("order.completed", "q1", T0 + 6 * DAY, promo_code=codes["q1"], total="lots")
    shop.event("order.completed", "q6", T0 + 7 * DAY, promo_code=codes["q6"], total=20.1,
               currency="CHF")  # fmt: skip
    shop.event("order.completed", "q2", T0 + 8 * DAY, promo_code=codes["q1"], total=5)  # not q2's
    shop.event("order.completed", "q5", T0 + 50 * DAY, promo_code=codes["q5"], total=1)
    return shop


def report(engine: Engine, **scope: object) -> list[PromoRow]:
    with session_scope(engine, readonly=True) as session:
        return promos(session.connection(), Period(**scope))  # type: ignore[arg-type]


def test_issued_redeemed_expired_and_value(engine: Engine, shop: Shop) -> None:
    (row,) = report(engine, since=T0, until=T0 + 40 * DAY)
    assert (row.journey, row.version, row.campaign) == ("shop", 1, "review_thanks")
    # Issued: shown in a message that went out (q0, q1, q2, q5, q6; not q3 or q4).
    assert (row.issued, row.redeemed, row.redemption_pct) == (5, 3, 60.0)
    # q2's and q5's codes expired 30 days after T0 + 3d 1h, before the end, unused.
    assert (row.expired, row.redeemed_in_period) == (2, 3)
    # q1's order carried no amount; the others sum per currency.
    assert row.redeemed_value == {"EUR": 99.5, "CHF": 20.1}
    assert row.valued == 2


def test_the_period_decides_issued_and_redeemed(engine: Engine, shop: Shop) -> None:
    (early,) = report(engine, since=T0, until=T0 + 6 * DAY)
    assert (early.issued, early.redeemed, early.expired) == (5, 1, 0)  # q0 only, yet
    assert early.redeemed_value == {"EUR": 99.5}
    (late,) = report(engine, since=T0 + 6 * DAY, until=T0 + 40 * DAY)
    # Issued before this period: not in its cohort; but redeemed in it: q1, q6.
    assert (late.issued, late.redeemed, late.redeemed_in_period) == (0, 0, 2)
    assert late.redeemed_value == {"CHF": 20.1} and late.redemption_pct is None
    by = {
        r.segment: (r.issued, r.redeemed) for r in report(engine, until=T0 + 40 * DAY, by="country")
    }
    assert by == {"DE": (3, 2), "AT": (2, 1)}  # q0, q1, q2 | q5, q6


def test_a_code_redeemed_before_its_message_went_out_was_issued_by_then(
    engine: Engine, shop: Shop
) -> None:
    # q4's request was deferred; q4 redeems the code (read out at the till, say) on day 4,
    # and the request goes out on day 5.
    shop.event("order.completed", "q4", T0 + 4 * DAY, promo_code=shop.codes()["q4"], total=10)
    shop.dispatch(T0 + 5 * DAY, lambda action: ("sent", None))
    (row,) = report(engine, since=T0, until=T0 + 4 * DAY + 12 * H)
    # q0, q1, q2, q5, q6 shown on day 3; q4 issued at the latest when it was redeemed.
    assert (row.issued, row.redeemed, row.redeemed_in_period) == (6, 1, 1)
    assert (row.redeemed_value, row.valued) == ({"none": 10.0}, 1)  # no currency given
