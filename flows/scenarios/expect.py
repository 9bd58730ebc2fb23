"""A scenario's expectations against what its run did: failures, each with a diff.

Lists (`sent`, `deferred`, `promo_codes`) are compared as wholes: every expected item
must be found, and nothing else may have happened. An expected item matches the
first unmatched real one with the same fields (a time within `within` of its `at`);
the two are then shown as one line, so the diff shows only what differs. The real
items come in the order they happened; an expected one without a partner is shown
where its time puts it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from .model import DeferredExpect, MessageRef, PromoExpect, SentExpect, StageExpect
from .records import Deferral, IssuedCode, Message, ScenarioRun, Sent

E = TypeVar("E")
A = TypeVar("A")


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold: a title and the lines that show why."""

    title: str
    lines: tuple[str, ...]


def check(run: ScenarioRun) -> list[Failure]:
    """Every failed expectation of the run's scenario (empty: it passed)."""
    expect = run.scenario.expect
    found: list[Failure | None] = [_stages(run, expect.stages)]
    if expect.sent is not None:
        found.append(_sent(run, expect.sent))
    found.append(_not_sent(run))
    if expect.deferred is not None:
        found.append(_deferred(run, expect.deferred))
    if expect.promo_codes is not None:
        found.append(_promo_codes(run, expect.promo_codes))
    found.append(_failed(run))
    return [f for f in found if f is not None]


# --- matching and showing -------------------------------------------------------------------


def _pairs(
    expected: Sequence[E], actual: Sequence[A], fits: Callable[[E, A], bool]
) -> dict[int, int]:
    """expected index -> actual index; each expected takes the first free fitting one."""
    taken: dict[int, int] = {}
    free = list(range(len(actual)))
    for i, item in enumerate(expected):
        j = next((j for j in free if fits(item, actual[j])), None)
        if j is not None:
            taken[i] = j
            free.remove(j)
    return taken


def _diff(
    title: str,
    expected: Sequence[str],
    actual: Sequence[str],
    pairs: dict[int, int],
    times: tuple[Sequence[datetime | None], Sequence[datetime]],
    notes: Sequence[str] = (),
) -> Failure | None:
    """The unified diff of expected and actual lines, a pair shown as one line.

    `times`: the expected items' times (None: not given) and the actual ones'.
    """
    if len(pairs) == len(expected) == len(actual):
        return None
    shown_actual = list(actual)
    for i, j in pairs.items():
        shown_actual[j] = expected[i]
    expected_at, actual_at = times

    def place(i: int) -> float:
        # With its partner; else before the first real item later than its time.
        if i in pairs:
            return pairs[i]
        at = expected_at[i]
        if at is None:
            return len(actual)
        return sum(1 for t in actual_at if t <= at) - 0.5

    order = sorted(range(len(expected)), key=lambda i: (place(i), i))
    shown_expected = [expected[i] for i in order]
    size = max(len(shown_expected), len(shown_actual))
    lines = difflib.unified_diff(
        shown_expected, shown_actual, "expected", "actual", lineterm="", n=size
    )
    return Failure(title, (*lines, *notes))


def _ref(ref: MessageRef) -> str:
    text = f"{ref.channel} {ref.name}"
    if ref.variant is not None:
        text += f" [variant {ref.variant}]"
    if ref.stage is not None:
        text += f" in {ref.stage}"
    return text


def _message(message: Message) -> str:
    text = f"{message.channel} {message.name}"
    return text + (f" [variant {message.variant}]" if message.variant else "")


def _is(ref: MessageRef, message: Message) -> bool:
    return (
        ref.channel == message.channel
        and message.called(ref.name)
        and ref.variant in (None, message.variant)
        and ref.stage in (None, message.stage)
    )


def _near(run: ScenarioRun, expected: object, within: object, actual: datetime) -> bool:
    if expected is None:
        return True
    return abs(run.timeline.at(expected) - actual) <= within  # type: ignore[arg-type,operator]


# --- each kind of expectation ---------------------------------------------------------------


def _stages(run: ScenarioRun, expected: Sequence[StageExpect]) -> Failure | None:
    want, got = [], []
    for item in expected:
        at = run.timeline.at(item.at)
        stage, status = run.stage_at(at), run.status_at(at)
        want.append(_where(run, at, item.stage, item.status))
        got.append(_where(run, at, stage, status if item.status is not None else None))
    if want == got:
        return None
    lines = difflib.unified_diff(want, got, "expected", "actual", lineterm="", n=len(want))
    return Failure("stages", tuple(lines))


def _where(run: ScenarioRun, at: datetime, stage: str | None, status: str | None) -> str:
    text = f"at {run.since_start(at)}: {stage if stage is not None else 'not in the journey'}"
    return text + (f" ({status})" if status is not None else "")


def _sent(run: ScenarioRun, expected: Sequence[SentExpect]) -> Failure | None:
    def fits(item: SentExpect, sent: Sent) -> bool:
        return (
            _is(item, sent.message)
            and _near(run, item.at, item.within, sent.at)
            and item.promo_code in (None, sent.promo_code is not None)
            and (item.contains is None or sent.contains(item.contains))
        )

    def shown(item: SentExpect) -> str:
        text = _ref(item)
        if item.at is not None:
            text += f" at {run.since_start(run.timeline.at(item.at))}"
        if item.promo_code is not None:
            text += " with a promo code" if item.promo_code else " without a promo code"
        return text + (f' containing "{item.contains}"' if item.contains else "")

    def actual(sent: Sent) -> str:
        text = f"{_message(sent.message)} at {run.since_start(sent.at)}"
        return text + (" with a promo code" if sent.promo_code else "")

    pairs = _pairs(expected, run.sent, fits)
    times = [None if e.at is None else run.timeline.at(e.at) for e in expected]
    notes = [
        f"  not sent: {_message(n.message)} ({n.status}: {n.reason})"
        for n in run.not_sent
        if any(_is(e, n.message) for e in expected)
    ]
    return _diff(
        "messages sent",
        [shown(e) for e in expected],
        [actual(s) for s in run.sent],
        pairs,
        (times, [s.at for s in run.sent]),
        notes,
    )


def _not_sent(run: ScenarioRun) -> Failure | None:
    lines = []
    for item in run.scenario.expect.not_sent:
        for sent in run.sent:
            if _is(item, sent.message):
                lines.append(f"{_ref(item)}: sent at {run.since_start(sent.at)}")
        if item.because is None:
            continue
        held = [n for n in run.not_sent if _is(item, n.message)]
        if any(item.because.lower() in n.reason.lower() for n in held):
            continue
        why = "; ".join(f"{n.status}: {n.reason}" for n in held) or "it never fell due"
        lines.append(f"{_ref(item)}: not held back because of '{item.because}' ({why})")
    return Failure("messages not to be sent", tuple(lines)) if lines else None


def _deferred(run: ScenarioRun, expected: Sequence[DeferredExpect]) -> Failure | None:
    # A message deferred again and again for the same rule is one deferral, until the
    # last time that rule let it go.
    latest: dict[tuple[Message, str], Deferral] = {}
    for deferral in run.deferred:
        latest[(deferral.message, deferral.by)] = deferral
    actual = list(latest.values())

    def fits(item: DeferredExpect, real: Deferral) -> bool:
        return (
            _is(item, real.message)
            and item.by == real.by
            and _near(run, item.until, item.within, real.until)
        )

    def shown(item: DeferredExpect) -> str:
        text = f"{_ref(item)} deferred by {item.by}"
        if item.until is not None:
            text += f" until {run.since_start(run.timeline.at(item.until))}"
        return text

    def real(d: Deferral) -> str:
        return f"{_message(d.message)} deferred by {d.by} until {run.since_start(d.until)}"

    pairs = _pairs(expected, actual, fits)
    times = [None if e.until is None else run.timeline.at(e.until) for e in expected]
    return _diff(
        "messages deferred",
        [shown(e) for e in expected],
        [real(d) for d in actual],
        pairs,
        (times, [d.until for d in actual]),
    )


def _promo_codes(run: ScenarioRun, expected: Sequence[PromoExpect]) -> Failure | None:
    def fits(item: PromoExpect, code: IssuedCode) -> bool:
        return (
            item.campaign in (None, code.campaign)
            and item.discount in (None, code.discount)
            and (item.prefix is None or code.code.startswith(item.prefix))
            and _near(run, item.expires, item.within, code.expires_at)
        )

    def shown(item: PromoExpect) -> str:
        parts = [f"campaign {item.campaign}" if item.campaign else None, item.discount]
        if item.expires is not None:
            parts.append(f"expires {run.since_start(run.timeline.at(item.expires))}")
        prefix = f" {item.prefix}…" if item.prefix else ""
        details = ", ".join(p for p in parts if p)
        return f"promo code{prefix}" + (f" ({details})" if details else "")

    def real(code: IssuedCode) -> str:
        prefix = code.code.split("-", 1)[0] if "-" in code.code else code.code[:4]
        details = [f"campaign {code.campaign}", code.discount]
        details.append(f"expires {run.since_start(code.expires_at)}")
        return f"promo code {prefix}… ({', '.join(details)})"

    pairs = _pairs(expected, run.promo_codes, fits)
    times = [None if e.expires is None else run.timeline.at(e.expires) for e in expected]
    return _diff(
        "promo codes issued",
        [shown(e) for e in expected],
        [real(c) for c in run.promo_codes],
        pairs,
        (times, [c.expires_at for c in run.promo_codes]),
    )


def _failed(run: ScenarioRun) -> Failure | None:
    """Messages that failed (a template error, no address): never what a journey wants,
    unless `not_sent` names the reason."""
    excused = [e for e in run.scenario.expect.not_sent if e.because is not None]
    lines = [
        f"{_message(n.message)} (due at {run.since_start(n.message.due_at)}): {n.reason}"
        for n in run.not_sent
        if n.status == "failed"
        and not any(_is(e, n.message) and e.because.lower() in n.reason.lower() for e in excused)  # type: ignore[union-attr]
    ]
    return Failure("messages that failed", tuple(lines)) if lines else None
