"""Individuals' communication credits on USSD (*125#): the balance with each purchase and its expiry,
a card top-up of one of the preset's amounts with a confirmation step, and nothing asked for without
a card, an account, or the confirming key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.accounts import individual_id, new_account
from functions.credits.config import BUCKET, config_for
from functions.credits.documents import ACCOUNTS, Card, to_document
from functions.edge import pager, services, ussd
from functions.edge.subscribers import caller_from
from shared.events import CreditChargeRequested
from shared.ledger import account_from_document, account_to_document
from shared.operator import PROFILES_DIR, load_file
from tests.fixtures.edge_reads import ussd_read

PROFILE = load_file(PROFILES_DIR / "demo.yaml")
CONFIG = config_for(PROFILE)
REGISTRY = services.ussd_services(PROFILE)
ME = "+998901234567"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 14:00 in Tashkent
VISA = Card(token="pm_1", brand="visa", last4="4242")


def account(*, card: Card | None = VISA, lots=((5_000_000, 30), (12_000_000, 200))) -> dict:
    """My individual account, with purchases of (amount, days before they expire)."""
    opened = new_account(individual_id(ME), kind="individual", name=ME, email="me@example.com", language="en",
                         owner=ME, config=CONFIG, now=NOW - timedelta(days=300))
    ledger = account_from_document(opened.ledger)
    for amount, days in lots:
        ledger.credit(BUCKET, amount, expires_at=NOW + timedelta(days=days), reason="purchase", reference="r",
                      at=NOW - timedelta(days=300))
    return to_document(opened.model_copy(update={"card": card, "ledger": account_to_document(ledger)}))


def dial(text: str = "", *, language: str = "en", stored: dict | None = None, session: str = "ATUid_7"):
    request = ussd.parse({"sessionId": session, "serviceCode": "*125#", "phoneNumber": ME, "networkCode": "1",
                          "text": text}, PROFILE)
    documents = ussd_read(REGISTRY, request, PROFILE, {(ACCOUNTS, individual_id(ME)): stored})
    caller = caller_from(ME, {"language": language, "status": "active"}, PROFILE)
    return ussd.answer(request, caller, REGISTRY, PROFILE, documents=documents, now=NOW)


def test_the_balance_and_each_purchase_with_its_expiry_oldest_first():
    reply = dial(stored=account())
    assert reply.body() == "CON Credits: 170 000 so'm\n1 Top up\n2 Expiry dates\n0 Close"
    lots = dial("2", stored=account(lots=((12_000_000, 200), (5_000_000, 30), (3_000_000, -1))))
    assert lots.body() == ("END Your credits, used oldest first:\n50 000 so'm until 31/12/2026\n"
                           "120 000 so'm until 19/06/2027")                # the expired one is gone already
    assert reply.publish == () and lots.publish == ()
    assert dial("2", stored=account(lots=())).body() == "END You have no credits. Top up on this code."


def test_a_confirmed_top_up_asks_for_one_charge_of_the_amount_picked():
    assert dial("1", stored=account()).body() == \
        "CON Top up by card:\n1 20 000 so'm\n2 50 000 so'm\n3 100 000 so'm\n0 Close"
    assert dial("1*2", stored=account()).body() == "CON Charge 50 000 so'm to Visa *4242?\n1 Confirm\n0 Close"
    confirmed = dial("1*2*1", stored=account())
    assert confirmed.body().startswith("END Top-up of 50 000 so'm requested.")
    [asked] = confirmed.publish
    assert asked.topic == "credits.charge-requested"
    payload: CreditChargeRequested = asked.payload
    assert (payload.account_id, payload.amount, payload.reason, payload.channel, payload.requested_by) == \
        ("998901234567", 5_000_000, "manual", "ussd", ME)
    again = dial("1*2*1", stored=account())                       # the gateway retries the same request
    assert again.publish[0].event_id == asked.event_id and again.publish[0].payload.charge_id == payload.charge_id
    other = dial("1*2*1", stored=account(), session="ATUid_8")    # another session: another charge
    assert other.publish[0].payload.charge_id != payload.charge_id


@pytest.mark.parametrize("answer", ["0", "2", "9"])
def test_anything_but_confirm_closes_and_charges_nothing(answer):
    reply = dial(f"1*3*{answer}", stored=account())
    assert reply.body() == "END Closed. Nothing was charged." and reply.publish == ()


def test_without_a_card_the_caller_is_told_how_to_add_one():
    reply = dial("1", stored=account(card=None))
    assert reply.body() == "END No card on file. To add one, call 0890." and reply.publish == ()
    assert dial("1*1*1", stored=account(card=None)).publish == ()


def test_a_wrong_key_is_named_and_the_screen_shown_again():
    assert dial("1*7", stored=account()).body().startswith("CON Choose one of the numbers below.\nTop up by card:")


def test_a_caller_without_a_credit_account_is_told_so():
    assert dial(stored=None).body() == "END You have no communication credits. For help call 0890."


@pytest.mark.parametrize("language", ["en", "ru", "uz", "ky", "zh"])
def test_every_screen_fits_the_handset_in_every_language(language):
    """The edge pages what is longer than a screen; the confirm screen names the amount and the card on its page."""
    stored = account(lots=((5_000_000, 30), (12_000_000, 200), (1_000_000, 300), (2_000_000, 330)))
    for text in ["", "1", "1*2", "1*2*0", "2"]:
        assert pager.fits(dial(text, language=language, stored=stored).text)
    confirm = dial("1*2", language=language, stored=stored).text
    assert "4242" in confirm and "50" in confirm


def test_the_code_is_listed_in_the_help_screen_after_subscriptions():
    codes = [service.code for service in REGISTRY.services.values()]
    assert codes[-2:] == ["*120#", "*125#"]
