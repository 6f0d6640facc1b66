"""Which campaign a subscriber is offered (functions/voice_plus/selection.py) and the cap's reservation (caps.py),
pure: segment, schedule in the operator's zone, frequency cap, priority tiers and weights, budget; a repeated offer
takes no second play, and reservations replayed in any interleaving never pass the cap."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from functions.voice_plus import caps
from functions.voice_plus.documents import TIERS, WEEKDAYS, Campaign
from functions.voice_plus.selection import Audience, Pool, choose

ZONE = ZoneInfo("Asia/Tashkent")  # UTC+5 all year: local midnight is 19:00 UTC the day before
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # Tuesday 14:30 in Tashkent
HORIZON = timedelta(days=31)
LANGUAGES = ("en", "ru", "uz", "ky", "zh")


def campaign(campaign_id: str = "c1", **fields: object) -> Campaign:
    """A live voice campaign for everyone, all day every day, 3 plays a day, with `fields` over it."""
    base: dict[str, object] = {
        "id": campaign_id,
        "name": campaign_id,
        "channel": "voice",
        "status": "live",
        "offer": {"kind": "bundle", "product": "data-1gb"},
        "voice": {language: {"say": f"offer {language}"} for language in LANGUAGES},
        "schedule": {"starts": "2026-01-01"},
        "cap": {"plays": 3, "period_hours": 24},
    }
    return Campaign.model_validate({**base, **fields})


def subscriber(**fields: object) -> Audience:
    return Audience(**{"msisdn": "+998901234567", "language": "uz", **fields})  # type: ignore[arg-type]


def pool(*campaigns: Campaign, used: dict[str, int] | None = None) -> Pool:
    return Pool.of(((each, (used or {}).get(each.id, 0)) for each in campaigns), ZONE)


def chosen(
    the_pool: Pool, who: Audience | None = None, now: datetime = NOW, plays: dict | None = None, seed: str = "voice:CA1"
) -> str | None:
    found = choose(the_pool, "voice", who or subscriber(), now, plays or {}, seed)
    return None if found is None else found.id


# --- segment ------------------------------------------------------------------------------------------

segments = st.fixed_dictionaries(
    {},
    optional={
        "prefixes": st.lists(st.sampled_from(["99890", "99891", "998"]), max_size=2),
        "plans": st.lists(st.sampled_from(["standard", "gold"]), max_size=2),
        "line_types": st.lists(st.sampled_from(["prepaid", "postpaid"]), max_size=2),
        "languages": st.lists(st.sampled_from(LANGUAGES), max_size=3),
        "regions": st.lists(st.sampled_from(["tashkent", "samarkand"]), max_size=2),
        "attributes": st.dictionaries(
            st.sampled_from(["segment", "device"]),
            st.lists(st.sampled_from(["youth", "vip", "4g"]), min_size=1, max_size=2),
            max_size=2,
        ),
    },
)
audiences = st.builds(
    Audience,
    msisdn=st.sampled_from(["+998901234567", "+998911112233", "+996555123456"]),
    language=st.sampled_from(LANGUAGES),
    tariff_plan=st.sampled_from(["standard", "gold"]),
    line_type=st.sampled_from(["prepaid", "postpaid"]),
    region=st.sampled_from([None, "tashkent", "samarkand"]),
    attributes=st.dictionaries(st.sampled_from(["segment", "device"]), st.sampled_from(["youth", "vip", "4g"])),
    holds=st.sampled_from([frozenset(), frozenset({"data-1gb"}), frozenset({"voice-100"})]),
)


def in_segment(segment: dict, who: Audience) -> bool:
    """The rule written out: every list given must take the subscriber; holders of the product never."""
    return (
        "data-1gb" not in who.holds
        and (not segment.get("prefixes") or any(who.msisdn[1:].startswith(p) for p in segment["prefixes"]))
        and (not segment.get("plans") or who.tariff_plan in segment["plans"])
        and (not segment.get("line_types") or who.line_type in segment["line_types"])
        and (not segment.get("languages") or who.language in segment["languages"])
        and (not segment.get("regions") or who.region in segment["regions"])
        and all(who.attributes.get(name) in values for name, values in segment.get("attributes", {}).items())
    )


@settings(max_examples=300)
@given(segment=segments, who=audiences)
def test_a_campaign_is_offered_exactly_to_its_segment_and_never_to_who_holds_its_product(segment, who):
    offered = chosen(pool(campaign(segment=segment)), who)
    assert (offered == "c1") == in_segment(segment, who)


def test_a_subscriber_speaking_a_language_the_campaign_has_no_prompt_in_is_not_offered_it():
    english_only = campaign(voice={"en": {"say": "offer"}})
    assert chosen(pool(english_only), subscriber(language="en")) == "c1"
    assert chosen(pool(english_only), subscriber(language="ru")) is None


# --- schedule in the operator's zone --------------------------------------------------------------------


@settings(max_examples=300)
@given(
    # hypothesis takes naive bounds and draws aware moments in the zone given
    moment=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),  # noqa: DTZ001
    start=st.integers(0, 23),
    length=st.integers(1, 24),
    days=st.sets(st.sampled_from(WEEKDAYS), min_size=1),
)
def test_the_schedule_is_read_in_the_operators_zone(moment, start, length, days):
    end = min(start + length, 24)
    window = {"start": f"{start:02d}:00", "end": "00:00" if end == 24 else f"{end:02d}:00"}
    scheduled = campaign(
        schedule={"starts": "2026-03-01", "ends": "2027-06-30", "days": sorted(days), "hours": [window]}
    )
    local = moment.astimezone(ZONE)
    runs = (
        date(2026, 3, 1) <= local.date() <= date(2027, 6, 30)
        and WEEKDAYS[local.weekday()] in days
        and start <= local.hour < end
    )
    assert (chosen(pool(scheduled), now=moment) == "c1") == runs


def test_a_night_window_runs_by_local_time_across_midnight_utc():
    # 00:00–06:00 in Tashkent on Wednesdays only: Tuesday 19:00–01:00 UTC.
    night = campaign(schedule={"starts": "2026-01-01", "days": ["wed"], "hours": [{"start": "00:00", "end": "06:00"}]})
    tuesday_evening_utc = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # Wednesday 01:00 local
    assert chosen(pool(night), now=tuesday_evening_utc) == "c1"
    assert chosen(pool(night), now=datetime(2026, 12, 2, 2, 0, tzinfo=UTC)) is None  # Wednesday 07:00 local
    assert chosen(pool(night), now=datetime(2026, 12, 1, 18, 59, tzinfo=UTC)) is None  # Tuesday 23:59 local
    # The campaign's last date is a local date: 23:30 local on its last day still runs, 00:30 the next does not.
    last_day = campaign(schedule={"starts": "2026-01-01", "ends": "2026-12-01"})
    assert chosen(pool(last_day), now=datetime(2026, 12, 1, 18, 30, tzinfo=UTC)) == "c1"
    assert chosen(pool(last_day), now=datetime(2026, 12, 1, 19, 30, tzinfo=UTC)) is None


# --- frequency cap ---------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    allowed=st.integers(1, 5),
    period_hours=st.integers(1, 72),
    gap_minutes=st.integers(0, 120),
    ago_minutes=st.lists(st.integers(0, 80 * 60), max_size=8),
)
def test_the_cap_counts_plays_within_the_period_and_the_minimum_gap(allowed, period_hours, gap_minutes, ago_minutes):
    capped = campaign(
        cap={"plays": allowed, "period_hours": period_hours, "min_gap_minutes": min(gap_minutes, period_hours * 60)}
    )
    plays = [NOW - timedelta(minutes=ago) for ago in ago_minutes]
    within = [ago for ago in ago_minutes if ago < period_hours * 60]
    gap_kept = not within or min(within) >= min(gap_minutes, period_hours * 60)
    expected = len(within) < allowed and gap_kept
    assert (chosen(pool(capped), plays={"c1": plays}) == "c1") == expected


def test_another_campaigns_plays_do_not_count_against_this_one():
    once = campaign(cap={"plays": 1, "period_hours": 24})
    assert chosen(pool(once), plays={"other": [NOW - timedelta(minutes=5)]}) == "c1"
    assert chosen(pool(once), plays={"c1": [NOW - timedelta(hours=23)]}) is None
    assert chosen(pool(once), plays={"c1": [NOW - timedelta(hours=24, minutes=1)]}) == "c1"


# --- priority and weights, budget ------------------------------------------------------------------------

tiered = st.lists(
    st.tuples(st.sampled_from(TIERS), st.integers(1, 50), st.booleans(), st.booleans()), min_size=1, max_size=6
)


@settings(max_examples=300)
@given(specs=tiered, seed=st.text(min_size=1, max_size=20))
def test_a_lower_tier_is_never_chosen_while_a_higher_one_fits(specs, seed):
    campaigns, fitting = [], []
    for n, (tier, weight, fits_segment, budget_spent) in enumerate(specs):
        campaigns.append(
            campaign(
                f"c{n}", tier=tier, weight=weight, budget=5, segment={} if fits_segment else {"regions": ["samarkand"]}
            )
        )
        if fits_segment and not budget_spent:
            fitting.append((TIERS.index(tier), f"c{n}"))
    used = {f"c{n}": 5 if spent else 4 for n, (_, _, _, spent) in enumerate(specs)}
    offered = chosen(pool(*campaigns, used=used), subscriber(region="tashkent"), seed=seed)
    if not fitting:
        assert offered is None
    else:
        best = min(rank for rank, _ in fitting)
        assert offered in {campaign_id for rank, campaign_id in fitting if rank == best}


def test_weights_within_a_tier_share_the_offers_and_a_repeated_request_chooses_alike():
    shared = pool(campaign("light", weight=1), campaign("heavy", weight=3), campaign("spare", tier="remnant"))
    counts = Counter(chosen(shared, seed=f"voice:CA{n}") for n in range(8000))
    assert set(counts) == {"light", "heavy"}  # the remnant never while the contract tier fits
    assert 0.72 < counts["heavy"] / 8000 < 0.78
    assert {chosen(shared, seed="voice:CAsame") for _ in range(20)} == {chosen(shared, seed="voice:CAsame")}


def test_a_campaign_whose_budget_is_spent_is_not_offered_and_the_next_tier_is():
    spent = campaign("spent", tier="override", budget=10)
    fallback = campaign("fallback", tier="remnant")
    assert chosen(pool(spent, fallback, used={"spent": 9})) == "spent"
    assert chosen(pool(spent, fallback, used={"spent": 10})) == "fallback"


def test_only_live_campaigns_on_the_channel_are_offered():
    paused = campaign("paused", status="paused")
    ussd_offer = Campaign.model_validate(
        {**campaign("ussd").model_dump(mode="json"), "channel": "ussd", "voice": {}, "text": {"uz": "Taklif"}}
    )
    assert chosen(pool(paused, ussd_offer)) is None


# --- the cap's reservation ------------------------------------------------------------------------------


def reserve(stored: dict | None, the_pool: Pool, offer_id: str, now: datetime = NOW) -> tuple[dict | None, str | None]:
    return caps.reserve(
        stored,
        offer_id,
        lambda plays: choose(the_pool, "voice", subscriber(), now, plays, seed=offer_id),
        now,
        HORIZON,
    )


def test_a_repeated_offer_id_returns_its_campaign_and_takes_no_second_play():
    the_pool = pool(campaign(cap={"plays": 5, "period_hours": 24}))
    first, campaign_id = reserve(None, the_pool, "voice:CA1")
    assert campaign_id == "c1" and len(first["plays"]) == 1
    again, same = reserve(first, the_pool, "voice:CA1", NOW + timedelta(seconds=2))
    assert again is None and same == "c1"


def test_plays_older_than_the_horizon_are_dropped_when_the_next_is_written():
    the_pool = pool(campaign(cap={"plays": 5, "period_hours": 24}))
    old = {"plays": [{"campaign": "c1", "offer": "voice:OLD", "at": NOW - HORIZON - timedelta(minutes=1)}]}
    written, _ = reserve(old, the_pool, "voice:CA2")
    assert [play["offer"] for play in written["plays"]] == ["voice:CA2"]


@settings(max_examples=200)
@given(
    allowed=st.integers(1, 4),
    offers=st.lists(st.sampled_from([f"voice:CA{n}" for n in range(12)]), min_size=1, max_size=20),
    steps=st.lists(st.integers(0, 19), max_size=120),
)
def test_reservations_in_any_interleaving_never_pass_the_cap(allowed, offers, steps):
    """Calls racing on one caps document: each reads, reserves, and writes only if nobody wrote since
    (the edge's conditional write), else reads again; `steps` says whose turn it is."""
    the_pool = pool(campaign(cap={"plays": allowed, "period_hours": 24}))
    stored: dict | None = None
    version = 0
    read: dict[int, tuple[int, dict]] = {}  # caller -> (version read, what they would write)
    answered: dict[int, str | None] = {}  # caller -> the campaign they hear (None: none)

    def step(caller: int) -> None:
        nonlocal stored, version
        if caller in answered:
            return
        if caller not in read:
            written, campaign_id = reserve(stored, the_pool, offers[caller])
            if written is None:
                answered[caller] = campaign_id  # nothing to write: answered at once, as change_document does
            else:
                read[caller] = (version, written)
            return
        seen, written = read.pop(caller)
        if seen == version:
            stored, version = written, version + 1
            answered[caller] = written["plays"][-1]["campaign"]
        # else: lost the race, reads again on its next turn

    for caller in steps:
        if caller < len(offers):
            step(caller)
    while len(answered) < len(offers):
        for caller in range(len(offers)):
            step(caller)

    plays = (stored or {}).get("plays", [])
    offered = {offers[caller] for caller, campaign_id in answered.items() if campaign_id}
    assert len(plays) == min(allowed, len(set(offers)))
    assert len({play["offer"] for play in plays}) == len(plays)  # one play per offer, however often repeated
    assert offered == {play["offer"] for play in plays}  # every caller who hears it holds a play, and only they
