"""The SMS add-on at the edge: the offers' short code forwards the open offer's keyword or YES/NO, answers the rest;
the top-up confirmation carries the offer as one SMS; offer ids the BSS's and the gateway's references can name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from functions.edge import services, sms_keywords
from functions.edge.subscribers import caller_from
from functions.provisioning import topups
from functions.voice_plus import edge_ussd, public
from functions.voice_plus.documents import SMS_OFFERS
from shared import texts
from shared.events import OfferSmsReplied
from shared.operator import PROFILES_DIR, load_file
from tests.fixtures.edge_reads import sms_read

PROFILE = load_file(PROFILES_DIR / "demo.yaml")
COMMANDS = services.sms_services(PROFILE)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
MSISDN = "+998901234567"
SHORT_CODE = "06008"  # demotel-voice-plus
OPEN = {"campaign": "sms-data", "offer": "sms:bss-1", "keyword": "NET5", "language": "en", "until": NOW + timedelta(hours=1)}


def texted(body: str, open_offer: dict | None = OPEN, language: str = "en", sid: str = "SM1") -> sms_keywords.SmsAnswer:
    """The edge's answer to an SMS to the offers' short code, the open offer read as the webhook reads it."""
    inbound = sms_keywords.InboundSms(message_sid=sid, sender=MSISDN, to=SHORT_CODE, body=body)
    command, word = COMMANDS.command_of(body)
    documents = sms_read(COMMANDS, inbound, SHORT_CODE, PROFILE, {(SMS_OFFERS, MSISDN): open_offer})
    caller = caller_from(MSISDN, {"language": language, "status": "active"}, PROFILE)
    request = sms_keywords.sms_request(inbound=inbound, command=command, word=word, short_code=SHORT_CODE,
                                       caller=caller, profile=PROFILE, documents=documents, now=NOW)
    return COMMANDS.answer(request)


def forwarded(answer: sms_keywords.SmsAnswer) -> OfferSmsReplied:
    [publication] = answer.publish
    assert publication.topic == "voice-plus.sms-replied" and answer.text is None  # the consumer answers
    return publication.payload


@pytest.mark.parametrize(("body", "reply"), [
    ("NET5", None), ("net5", None), ("ＮＥＴ５!", None), ("YES", True), ("да", True), ("是", True),
    ("no", False), ("Нет.", False),
])
def test_the_open_offers_keyword_and_yes_or_no_are_forwarded_with_what_was_said(body, reply):
    replied = forwarded(texted(body))
    assert (replied.msisdn, replied.consent_reply) == (MSISDN, reply)
    assert (replied.said.text, replied.said.reference, replied.said.at) == (body, "SM1", NOW)


def test_the_same_message_again_publishes_the_same_event():
    assert texted("YES").publish[0].event_id == texted("YES").publish[0].event_id
    assert texted("YES").publish[0].event_id != texted("YES", sid="SM2").publish[0].event_id


def test_with_nothing_open_the_subscriber_is_told_so_in_their_language():
    answer = texted("NET5", open_offer=None, language="ru")
    assert answer.publish == ()
    assert answer.text.render("ru") == (
        "У вас нет предложения, на которое можно ответить. Предложения приходят в SMS о пополнении.")


def test_another_word_is_told_what_to_reply_and_nothing_is_published():
    answer = texted("NET6")
    assert answer.publish == ()
    assert answer.text.render("en") == "To take the offer, reply NET5; to answer its question, reply YES or NO."


def test_the_confirmation_with_its_offer_is_one_sms_reading_as_the_add_on_was_measured():
    notice = {"to": MSISDN, "template": "topup.credited", "params": {"amount": "5 000 so'm"}, "reference": "topup:r"}
    rendered = "Top-up of 5 000 so'm received. Main balance: 5 000 so'm."
    offer = "1 GB for 9 000 so'm! Reply NET5 to 06008."
    sent = topups.with_offer(notice, rendered, offer, "en")
    assert (sent["to"], sent["reference"], sent["language"]) == (MSISDN, "topup:r", "en")
    assert texts.render(sent["template"], "en", **sent["params"]) == f"{rendered}\n{offer}"  # as fit.with_sms_addon
    assert topups.with_offer(notice, rendered, None, "en") is notice


@pytest.mark.parametrize(("reference", "offer_id"), [
    ("bss-1", "sms:bss-1"), ("BSS/2026/7", "sms:BSS-2026-7"), ("x" * 200, "sms:" + "x" * 140),
])
def test_a_topups_reference_names_its_offer(reference, offer_id):
    assert public.offer_id_for_topup(reference) == offer_id


def test_a_session_id_an_offer_id_cannot_carry_is_named_by_its_hash():
    assert edge_ussd.offer_id_for("ATUid_1") == "ussd:ATUid_1"
    hashed = edge_ussd.offer_id_for("session with spaces/é")
    assert hashed.startswith("ussd:") and len(hashed) == 37 and hashed == edge_ussd.offer_id_for("session with spaces/é")


@pytest.mark.parametrize("body", ["NET5", "YES", "нет", "NET6"])
def test_an_offer_past_its_window_counts_as_nothing_open(body):
    expired = {**OPEN, "until": NOW - timedelta(minutes=1)}
    answer = texted(body, open_offer=expired, language="uz")
    assert answer.publish == ()
    assert answer.text.render("uz") == texts.render("voice_plus.sms.nothing_open", "uz")
    assert answer.text.render("en") == "You have no open offer to answer. Offers come with your top-up SMS."


def test_an_offer_is_open_until_the_last_moment_of_its_window():
    assert forwarded(texted("YES", open_offer={**OPEN, "until": NOW + timedelta(seconds=1)})).consent_reply is True
