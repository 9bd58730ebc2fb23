"""Twilio Advanced Opt-Out: Twilio has already answered the customer, journeyflow must not.

With Advanced Opt-Out on a Messaging Service, Twilio recognises the keywords (its own
and the service's custom ones, in any language), replies with the service's texts, and
names the keyword's class in `OptOutType` (STOP, START or HELP). journeyflow then
answers with empty TwiML, a second text would be a duplicate, and still applies the
consent change, also for a word it does not know itself.
"""

from __future__ import annotations

import pytest
from receiver_harness import MakeReceiver, Receiver
from test_inbound_twilio import ANNA, TOKEN, config, consent, history, post, reply, sign_up, sms

TEXTS = {
    "help_text": {"de": "Hilfe: ruf uns an.", "en": "Help: call us."},
    "stop_text": {"de": "Abgemeldet.", "en": "Unsubscribed."},
    "start_text": {"de": "Wieder angemeldet.", "en": "Subscribed again."},
}


@pytest.fixture
def twilio(make_receiver: MakeReceiver) -> Receiver:
    receiver = make_receiver(config(**TEXTS), env={"TWILIO_AUTH_TOKEN": TOKEN})
    sign_up(receiver.engine)  # Anna (de-AT) and Ben, both SMS subscribed
    return receiver


def opted(body: str, opt_out_type: str) -> dict[str, str]:
    return {**sms(body, sender=ANNA), "OptOutType": opt_out_type}


def event_type(receiver: Receiver, params: dict[str, str]) -> str:
    return str(
        receiver.scalar(
            "SELECT type FROM inbound_event WHERE external_id = :sid", sid=params["MessageSid"]
        )
    )


def test_without_advanced_opt_out_journeyflow_answers_the_keywords(twilio: Receiver) -> None:
    assert reply(post(twilio, sms("HILFE"))) == "Hilfe: ruf uns an."
    assert reply(post(twilio, sms("STOP"))) == "Abgemeldet."
    assert reply(post(twilio, sms("START"))) == "Wieder angemeldet."


def test_help_already_answered_by_twilio_gets_empty_twiml(twilio: Receiver) -> None:
    params = opted("HELP", "HELP")
    assert reply(post(twilio, params)) is None
    assert event_type(twilio, params) == "sms.help"
    assert consent(twilio, "a-1") == "subscribed"


def test_stop_and_start_change_consent_without_a_second_answer(twilio: Receiver) -> None:
    stop = opted("STOP", "STOP")
    assert reply(post(twilio, stop)) is None
    assert consent(twilio, "a-1") == "unsubscribed"
    assert event_type(twilio, stop) == "sms.opted_out"

    # A custom keyword of the Messaging Service that journeyflow does not know itself:
    # Twilio's class of it counts.
    start = opted("REPRENDRE", "START")
    assert reply(post(twilio, start)) is None
    assert consent(twilio, "a-1") == "subscribed"
    assert event_type(twilio, start) == "sms.opted_in"

    assert history(twilio) == [
        ("a-1", "unsubscribed", "sms_keyword"),
        ("a-1", "subscribed", "sms_keyword"),
    ]
    assert consent(twilio, "b-1") == "subscribed"  # Ben's number said nothing


def test_a_redelivered_opt_out_is_applied_once_and_still_not_answered(
    twilio: Receiver,
) -> None:
    stop = opted("ARRET", "stop ")  # as sent, in any case and spacing
    assert reply(post(twilio, stop)) is None
    assert reply(post(twilio, stop)) is None
    assert history(twilio) == [("a-1", "unsubscribed", "sms_keyword")]


def test_an_opt_out_type_twilio_does_not_define_leaves_journeyflow_to_answer(
    twilio: Receiver,
) -> None:
    # Not one of STOP, START, HELP: Twilio did not answer, so journeyflow does.
    assert reply(post(twilio, opted("STOP", "SOMETHING_NEW"))) == "Abgemeldet."
    assert reply(post(twilio, opted("Hallo", ""))) is None
    assert consent(twilio, "a-1") == "unsubscribed"
