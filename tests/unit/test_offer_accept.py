"""Accepting an offer and counting its funnel, the pure parts: was the offer made, has it ended, ids, shards, the table."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.voice_plus import offers, stats
from functions.voice_plus.documents import Campaign
from functions.voice_plus.offer_events import consent_offer
from shared import consent, texts

CAMPAIGN = Campaign.model_validate({
    "id": "net-week", "name": "1 GB this week", "channel": "voice", "status": "live", "budget": 3,
    "offer": {"kind": "bundle", "product": "data-1gb", "confirm": True}, "voice": {"en": {"say": "Press 1"}},
    "schedule": {"starts": "2026-01-01"}, "cap": {"plays": 2, "period_hours": 24},
})
NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)
SHOWN = consent.given(  # the consent to the campaign's product as the caller heard it
    offer=consent_offer(CAMPAIGN), msisdn="+998901234567", channel="ivr", language="en", shown="Press 1", price=900_000,
    currency="UZS", period="once", request=consent.Answer(text="1", reference="CA1", at=NOW),
    confirmation=consent.Answer(text="1", reference="CA1", at=NOW), accepted=True,
)


def test_an_offer_was_made_only_when_the_subscribers_plays_hold_it_by_that_campaign():
    plays = {"plays": [{"campaign": "net-week", "offer": "voice:CA1", "at": None},
                       {"campaign": "other", "offer": "voice:CA2", "at": None}]}
    assert offers.was_made(plays, "voice:CA1", "net-week")
    assert not offers.was_made(plays, "voice:CA2", "net-week"), "made, but by another campaign"
    assert not offers.was_made(plays, "voice:CA3", "net-week")
    assert not offers.was_made(None, "voice:CA1", "net-week")


def test_an_offer_ends_when_its_campaign_stops_or_its_budget_is_spent_and_a_pause_does_not_end_it():
    shown = SHOWN
    assert offers._ended_because(CAMPAIGN, used=2, given=shown) is None
    assert offers._ended_because(CAMPAIGN, used=3, given=shown) == "budget"
    assert offers._ended_because(CAMPAIGN.model_copy(update={"status": "stopped"}), used=0, given=shown) == "stopped"
    assert offers._ended_because(CAMPAIGN.model_copy(update={"status": "paused"}), used=0, given=shown) is None
    assert offers._ended_because(CAMPAIGN.model_copy(update={"budget": None}), used=10_000, given=shown) is None
    changed = CAMPAIGN.model_copy(update={"offer": CAMPAIGN.offer.model_copy(update={"product": "data-monthly"})})
    assert offers._ended_because(changed, used=0, given=shown) == "changed", "consented to the product shown then"


def test_a_step_of_an_offer_has_one_id_whoever_publishes_it_and_the_nth_repeat_its_own():
    assert stats.funnel_event_id("voice:CA1", "played") == stats.funnel_event_id("voice:CA1", "played")
    assert stats.funnel_event_id("voice:CA1", "played", 2) != stats.funnel_event_id("voice:CA1", "played")
    assert stats.funnel_event_id("voice:CA1", "key") != stats.funnel_event_id("voice:CA2", "key")


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=10**6))
def test_events_spread_over_every_shard_and_a_redelivery_lands_on_the_same_one(start):
    event_ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"event/{start + n}")) for n in range(2000)]
    spread = Counter(stats.shard_of(event_id) for event_id in event_ids)
    assert set(spread) == set(range(stats.SHARD_COUNT))
    assert max(spread.values()) < 2 * len(event_ids) / stats.SHARD_COUNT, "no shard takes twice its share"
    assert all(stats.shard_of(event_id) == stats.shard_of(event_id) for event_id in event_ids[:10])


def test_the_funnel_table_shows_each_step_and_the_conversion_of_activations_to_offers():
    rows = [stats.FunnelRow("net-week", "en", "2026-03-16", {"offered": 40, "key": 9, "activated": 3, "hangup": 20}),
            stats.FunnelRow("net-week", "ru", "2026-03-16", {"hangup": 1})]
    table = stats.format_funnel(rows).splitlines()
    assert table[0].split() == ["campaign", "day", "lang", "offered", "replays", "keys", "confirmed", "declined",
                                "accepted", "activated", "failed", "hangups", "conversion"]
    assert table[1].split() == ["net-week", "2026-03-16", "en", "40", "0", "9", "0", "0", "0", "3", "0", "20", "7.5%"]
    assert table[2].split()[-1] == "-", "no offer made: no conversion to show"
    assert stats.format_funnel([]) == "No offers in these days."


def test_the_offer_ended_sms_names_the_product_in_every_language():
    for language in texts.LANGUAGES:
        assert "1 GB" in texts.render("voice_plus.offer.ended", language, name="1 GB")
