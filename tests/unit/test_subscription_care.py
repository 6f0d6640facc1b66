"""Customer care's commands for subscriptions: what an agent reads of a subscriber, the catalogue and the consents,
and a cancel that asks the service (channel care) only for something the subscriber really has running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.subscriptions import __main__ as care
from functions.subscriptions.config import load_preset
from functions.subscriptions.documents import Book, Item, PendingQuestion
from shared import consent
from shared.events import Envelope
from shared.operator import load_file

M1 = load_file(Path("tests/fixtures/operators/m1.yaml"))
CATALOGUE = load_preset("m1-subscriptions", M1.currency)
MSISDN = "+6581234567"
NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Singapore


def item(item_id: str, product: str, *, days_ago: int, status: str = "active", **fields) -> Item:
    started = NOW - timedelta(days=days_ago)
    values = {"id": item_id, "product": product, "kind": "subscription", "status": status, "price": 390,
              "currency": "SGD", "period": "monthly", "channel": "sms", "started_at": started, "anchor": started}
    return Item(**{**values, **fields})


def book() -> Book:
    return Book(
        msisdn=MSISDN,
        items={
            "sub-news": item("sub-news", "news-monthly", days_ago=10, next_charge_at=NOW + timedelta(days=20)),
            "sub-ehawaii": item("sub-ehawaii", "ehawaii-annual", days_ago=40, price=9900, period="annual",
                                status="grace", failed_attempts=1, last_failure="insufficient_balance",
                                next_retry_at=NOW + timedelta(hours=6)),
            "pack-old": item("pack-old", "data-5gb", days_ago=90, kind="pack", period=None, status="expired",
                             ended_at=NOW - timedelta(days=60), end_reason="validity ended"),
        },
        spend={"2027-02": {"news-monthly": 390, "data-5gb": 1000}},
        pending=PendingQuestion(product="roam-asia-3gb", consent_id="c-1", asked_at=NOW,
                                expires_at=NOW + timedelta(minutes=15)),
        plan="prepaid-data",
        plan_changes=1,
    )


@pytest.fixture
def operator_m1(monkeypatch):
    monkeypatch.setattr("shared.operator.current", lambda: M1)


# --- what care reads --------------------------------------------------------------------------

def test_products_name_every_price_period_trial_pack_rule_and_the_plan_change():
    text = "\n".join(care.describe_products(CATALOGUE, M1))
    assert "ehawaii-annual" in text and "99 SGD every year" in text
    assert "trial 14 days" in text
    assert "5120 data_mb; valid 30 days; carry-over up to 30 days" in text
    assert "at most 2 live, one more below 2048 MB" in text
    assert "plan change on #100#: balance above 1 SGD, 1 free, then 1 SGD from main" in text


def test_show_numbers_the_live_subscriptions_as_subs_does_and_lists_the_ended_ones_and_the_spend():
    lines = care.describe_book(book(), CATALOGUE, M1)
    text = "\n".join(lines)
    numbered = [line for line in lines if line.startswith("  1.") or line.startswith("  2.")]
    assert "sub-ehawaii" in numbered[0] and "sub-news" in numbered[1]          # oldest first, as SUBS lists
    assert "next charge 2027-03-21 10:00" in numbered[1]                      # in Singapore's time
    assert "1 failed, retry 2027-03-01 16:00 (insufficient_balance)" in numbered[0]
    assert "ended: 1" in text and "validity ended" in text
    assert "spent 2027-02: 13.90 SGD (data-5gb 10 SGD, news-monthly 3.90 SGD)" in text
    assert "waiting for YES/NO about roam-asia-3gb" in text
    assert "plan prepaid-data (1 changes)" in text


def test_consents_show_the_text_shown_and_both_answers_or_that_none_came():
    asked_at = NOW - timedelta(days=2)
    confirmed = consent.given(
        offer="subscriptions.news-monthly", msisdn=MSISDN, channel="ussd", language="en",
        shown="Straits news 3.90 SGD a month. 1 Confirm 0 Close", price=390, currency="SGD", period="month",
        request=consent.Answer(text="*120*1#", reference="session-1", at=asked_at),
        confirmation=consent.Answer(text="1", reference="session-1", at=asked_at + timedelta(seconds=20)),
        accepted=True,
    )
    waiting = consent.asked(
        offer="subscriptions.ehawaii-annual", msisdn=MSISDN, channel="sms", language="en",
        shown="eHawaii 99 SGD a year. Reply YES", price=9900, currency="SGD", period="year",
        request=consent.Answer(text="EHAWAII", reference="sms-7", at=NOW),
    )
    text = "\n".join(care.describe_consents([waiting, confirmed], M1))
    assert text.index("subscriptions.news-monthly") < text.index("subscriptions.ehawaii-annual")  # oldest first
    assert "shown (en): Straits news 3.90 SGD a month. 1 Confirm 0 Close" in text
    assert "answer 2027-02-27 10:00  session-1  '1'" in text
    assert "answer none (reply by 2027-03-01 10:15)" in text


# --- cancel -----------------------------------------------------------------------------------

def test_cancel_by_id_or_by_the_number_show_gives_names_that_subscription_for_care():
    by_id = care.cancel_request(book(), "sub-news", by="agent7", now=NOW)
    by_number = care.cancel_request(book(), "2", by="agent7", now=NOW)
    assert by_id.subscription_ids == by_number.subscription_ids == ["sub-news"]
    assert (by_id.channel, by_id.by, by_id.every, by_id.msisdn) == ("care", "agent7", False, MSISDN)


def test_cancel_all_stops_every_live_one():
    request = care.cancel_request(book(), "all", by="agent7", now=NOW)
    assert request.every and request.subscription_ids == []


@pytest.mark.parametrize("wanted, answer", [
    ("nope", "has no subscription 'nope'"),
    ("3", "has no subscription '3'"),
    ("pack-old", "pack-old already ended (expired, validity ended)"),
])
def test_cancel_of_something_not_running_says_why_and_asks_nothing(wanted, answer):
    assert answer in care.cancel_request(book(), wanted, by="agent7", now=NOW)


def test_cancel_all_with_nothing_live_says_so():
    assert care.cancel_request(Book.empty(MSISDN), "ALL", by="a", now=NOW) == f"{MSISDN} has no live subscription"


def test_the_cancel_command_publishes_subscription_cancel_requested_and_a_wrong_id_publishes_nothing(
        operator_m1, monkeypatch, capsys):
    published = []

    def publish_new(topic, payload, *, event_id, source):
        published.append((topic, payload, event_id, source))
        return Envelope(id=event_id, type=topic, occurred_at=NOW, correlation_id=event_id, source=source, data={})

    monkeypatch.setattr(care, "read_book", lambda msisdn: book())
    monkeypatch.setattr(care.runtime, "publish_new", publish_new)
    assert care.main(["cancel", "81234567", "sub-news", "--by", "agent7"]) == 0
    [(topic, payload, event_id, source)] = published
    assert (topic, source, event_id) == ("subscription.cancel-requested", "care-cli", payload.request_id)
    assert (payload.msisdn, payload.subscription_ids, payload.channel, payload.by) == (
        MSISDN, ["sub-news"], "care", "agent7")
    assert "asked to stop sub-news of +6581234567" in capsys.readouterr().out
    assert care.main(["cancel", "81234567", "pack-old"]) == 1
    assert len(published) == 1 and "already ended" in capsys.readouterr().err


def test_show_and_products_print_and_a_profile_without_the_service_is_told_so(operator_m1, monkeypatch, capsys):
    monkeypatch.setattr(care, "read_book", lambda msisdn: book())
    assert care.main(["show", "81234567"]) == 0 and "subscriber +6581234567" in capsys.readouterr().out
    assert care.main(["products"]) == 0 and "m1-subscriptions" in capsys.readouterr().out
    monkeypatch.setattr("shared.operator.current", lambda: M1.model_copy(update={"services": {}}))
    assert care.main(["products"]) == 1
    assert "services.subscriptions" in capsys.readouterr().err
