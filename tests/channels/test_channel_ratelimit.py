"""Token buckets per sender and bounded concurrency for batch sends."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest
from channel_fakes import (
    SENDGRID_KEY,
    TWILIO_SID,
    TWILIO_TOKEN,
    SendGridFake,
    TwilioFake,
    make_email,
    make_sms,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from channels import (
    ChannelConfigError,
    ChannelSettings,
    OutboundMessage,
    RateLimiter,
    RetryableSendError,
    SendGridChannel,
    SendResult,
    TokenBucket,
    TwilioChannel,
    default_limiter,
    send_many,
    sms_sender_rate,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_holds_its_rate_on_a_fake_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=1, clock=clock)
    grants = []
    for _ in range(10):
        bucket.acquire()
        grants.append(clock.now)
    assert grants[0] == 1000.0  # the saved-up token
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert gaps == pytest.approx([0.5] * 9)
    assert clock.now - 1000.0 == pytest.approx(4.5)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 5),
    idle=st.lists(st.floats(0, 3), min_size=1, max_size=40),
)
def test_no_window_ever_gets_more_than_burst_plus_rate(
    rate: float, burst: int, idle: list[float]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    grants = []
    for pause in idle:
        clock.now += pause
        bucket.acquire()
        grants.append(clock.now)
    for i, start in enumerate(grants):
        for j in range(i, len(grants)):
            window = grants[j] - start
            assert j - i + 1 <= burst + rate * window + 1e-6


def test_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5
    assert bucket.try_acquire() is False
    clock.now += 0.5
    assert bucket.try_acquire() is True
    clock.now += 60  # idle time saves up no more than the burst
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_bucket_rate_in_real_time_across_threads() -> None:
    bucket = TokenBucket(rate=50.0, burst=1)
    started = time.monotonic()

    def work() -> None:
        for _ in range(5):
            bucket.acquire()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # 20 tokens at 50/s with one saved: at least 19/50 = 0.38 s; generous both ways.
    assert 0.3 <= elapsed < 5.0


def test_invalid_rates_name_the_problem() -> None:
    with pytest.raises(ChannelConfigError, match="rate must be > 0"):
        TokenBucket(rate=0)
    with pytest.raises(ChannelConfigError, match="burst must be >= 1"):
        TokenBucket(rate=1, burst=0)


@pytest.mark.parametrize(
    ("sender", "rate"),
    [
        ("+4915790000000", 1.0),  # German mobile long code
        ("+14155552671", 1.0),  # US long code
        ("+18005550100", 3.0),  # US toll-free
        ("12345", 100.0),  # short code
        ("MG" + "0" * 32, 10.0),  # messaging service
    ],
)
def test_sms_sender_rates(sender: str, rate: float) -> None:
    assert sms_sender_rate(sender) == rate


def test_limiter_keeps_one_bucket_per_channel_and_sender() -> None:
    clock = FakeClock()
    limiter = default_limiter(ChannelSettings(sendgrid_rate=5.0), clock=clock)
    long_code = limiter.bucket("twilio", "+4915790000000")
    assert long_code is not None and long_code.rate == 1.0
    assert limiter.bucket("twilio", "+4915790000000") is long_code
    toll_free = limiter.bucket("twilio", "+18005550100")
    assert toll_free is not None and toll_free.rate == 3.0
    sendgrid = limiter.bucket("sendgrid", "shop@shop.example")
    assert sendgrid is not None and sendgrid.rate == 5.0
    assert limiter.bucket("webhook", "crm.example") is None

    limiter.acquire("twilio", "+4915790000000")
    limiter.acquire("twilio", "+4915790000000")  # waits a second for this sender
    limiter.acquire("twilio", "+18005550100")  # another sender does not wait
    assert clock.slept == pytest.approx([1.0])


def test_channel_waits_for_its_sender_bucket(sendgrid_fake: SendGridFake) -> None:
    clock = FakeClock()
    limiter = RateLimiter(lambda channel, sender: 4.0, clock=clock)
    channel = SendGridChannel(SENDGRID_KEY, base_url=sendgrid_fake.url, limiter=limiter)
    for _ in range(3):
        assert channel.send(make_email()).status == "sent"
    assert clock.slept == pytest.approx([0.25, 0.25])


def test_send_many_never_exceeds_the_concurrency_sendgrid(sendgrid_fake: SendGridFake) -> None:
    sendgrid_fake.hold = 0.05
    channel = SendGridChannel(SENDGRID_KEY, base_url=sendgrid_fake.url)
    messages = [make_email() for _ in range(12)]
    results = send_many(channel, messages, concurrency=3)
    assert [r.status for r in results if isinstance(r, SendResult)] == ["sent"] * 12
    assert 2 <= sendgrid_fake.max_in_flight <= 3
    sent_ids = [
        r.json["personalizations"][0]["custom_args"]["message_id"] for r in sendgrid_fake.requests
    ]
    assert sorted(sent_ids) == sorted(m.message_id for m in messages)


def test_send_many_never_exceeds_the_concurrency_twilio(twilio_fake: TwilioFake) -> None:
    twilio_fake.hold = 0.05
    channel = TwilioChannel(
        TWILIO_SID, TWILIO_TOKEN, from_number="+4915790000000", base_url=twilio_fake.url
    )
    results = send_many(channel, [make_sms() for _ in range(10)], concurrency=2)
    assert [getattr(r, "status", r) for r in results] == ["sent"] * 10
    assert twilio_fake.max_in_flight == 2


class ScriptedChannel:
    """Answers in scrambled time; raises for messages whose key says so."""

    name = "scripted"
    kind = "email"

    def send(self, message: OutboundMessage) -> SendResult:
        time.sleep(random.uniform(0, 0.01))
        if message.idempotency_key.endswith("-retry"):
            raise RetryableSendError("busy", retry_after=3)
        if message.idempotency_key.endswith("-boom"):
            raise KeyError("bug")
        return SendResult("sent", provider_message_id=message.idempotency_key)

    def close(self) -> None:
        pass


def test_send_many_keeps_order_and_collects_errors() -> None:
    keys = [f"k{i}" + ("-retry" if i % 5 == 0 else "-boom" if i == 7 else "") for i in range(20)]
    messages = [make_email(idempotency_key=key) for key in keys]
    results = send_many(ScriptedChannel(), messages, concurrency=4)  # type: ignore[arg-type]
    assert len(results) == 20
    for key, result in zip(keys, results, strict=True):
        if key.endswith("-retry"):
            assert isinstance(result, RetryableSendError) and result.retry_after == 3
        elif key.endswith("-boom"):
            assert isinstance(result, SendResult) and result.status == "unknown"
            assert "KeyError" in (result.reason or "")
        else:
            assert isinstance(result, SendResult) and result.provider_message_id == key


def test_send_many_rejects_zero_concurrency() -> None:
    with pytest.raises(ChannelConfigError, match="concurrency must be >= 1"):
        send_many(ScriptedChannel(), [], concurrency=0)  # type: ignore[arg-type]
    assert send_many(ScriptedChannel(), [], concurrency=2) == []  # type: ignore[arg-type]
