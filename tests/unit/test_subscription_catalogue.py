"""The product catalogue's pure rules: prices on a date, periods on the local calendar, packs (M1's carry-over
and roaming limit), plan changes (M1's #100#), and the presets shipped for DemoTel and M1."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from functions.subscriptions import packs, plans, pricing
from functions.subscriptions.config import (
    ConfigError,
    Pack,
    Plan,
    PlanChange,
    Subscription,
    config_for,
    load_config,
    load_preset,
    preset_names,
)
from functions.subscriptions.documents import Item
from functions.subscriptions.refusal import Refusal
from shared.money import Currency
from shared.operator import load_file

SGD = Currency(code="SGD", minor_unit=2)
UZS = Currency(code="UZS", minor_unit=2)
SINGAPORE, TASHKENT = "Asia/Singapore", "Asia/Tashkent"
NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


def subscription(**fields) -> Subscription:
    values = {"id": "news", "keyword": "NEWS", "names": {"en": "News"}, "price": "1.00", "period": "monthly"}
    return Subscription.model_validate({**values, **fields}, context={"currency": SGD})


def pack(**fields) -> Pack:
    values = {
        "id": "data-5gb",
        "keyword": "DATA5",
        "names": {"en": "5 GB data"},
        "price": "10.00",
        "allowances": [{"kind": "data_mb", "bucket": "data_mb", "amount": 5120}],
        "validity_days": 30,
    }
    return Pack.model_validate({**values, **fields}, context={"currency": SGD})


def holding(product: str, item_id: str, expires_at: datetime | None, status: str = "active") -> Item:
    return Item(id=item_id, product=product, kind="pack", status=status, price=1000, currency="SGD",
                channel="sms", started_at=NOW - timedelta(days=5), anchor=NOW - timedelta(days=5),
                expires_at=expires_at)


# --- pricing.price_at -------------------------------------------------------------------------

def test_a_price_change_applies_from_its_effective_date_on_and_not_the_day_before():
    news = subscription(price_changes=[{"price": "1.50", "effective": "2026-05-01"}])
    assert pricing.price_at(news, date(2026, 4, 30)) == 100
    assert pricing.price_at(news, date(2026, 5, 1)) == 150
    assert pricing.price_at(news, date(2027, 1, 1)) == 150


def test_of_several_price_changes_the_latest_effective_one_is_in_force():
    news = subscription(price_changes=[{"price": "1.50", "effective": "2026-05-01"},
                                       {"price": "2.00", "effective": "2026-09-01"}])
    assert [pricing.price_at(news, day) for day in (date(2026, 1, 1), date(2026, 6, 1), date(2026, 9, 1))] == \
        [100, 150, 200]


# --- pricing.period_end -----------------------------------------------------------------------

def local(year, month, day, hour=9, zone=SINGAPORE) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZoneInfo(zone))


def test_monthly_periods_clamp_from_the_anchor_jan_31_feb_28_mar_31():
    anchor = local(2027, 1, 31)
    ends = [pricing.period_end(anchor, "monthly", n, SINGAPORE) for n in range(4)]
    assert [end.date() for end in ends] == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    assert all(end.hour == 9 for end in ends)


def test_an_annual_subscription_renews_on_its_anniversary_and_feb_29_falls_on_feb_28():
    anchor = local(2028, 2, 29)
    assert [pricing.period_end(anchor, "annual", n, SINGAPORE).date() for n in range(5)] == \
        [date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28), date(2032, 2, 29)]


def test_periods_count_on_the_operators_calendar_not_in_utc():
    """21:00 UTC on Jan 31 is 02:00 on Feb 1 in Tashkent (UTC+5): the month runs from Feb 1 there."""
    anchor = datetime(2027, 1, 31, 21, 0, tzinfo=UTC)  # 02:00 on Feb 1 in Tashkent
    end = pricing.period_end(anchor, "monthly", 1, TASHKENT)
    assert end == datetime(2027, 3, 1, 2, 0, tzinfo=ZoneInfo(TASHKENT))


def test_daily_and_weekly_periods_keep_the_local_time_across_daylight_saving():
    anchor = datetime(2027, 3, 13, 9, 0, tzinfo=ZoneInfo("America/New_York"))  # DST begins Mar 14
    daily = pricing.period_end(anchor, "daily", 2, "America/New_York")
    weekly = pricing.period_end(anchor, "weekly", 1, "America/New_York")
    assert (daily.day, daily.hour, weekly.day, weekly.hour) == (15, 9, 20, 9)
    assert daily.astimezone(UTC) - anchor.astimezone(UTC) == timedelta(hours=47)  # the night lost an hour


def test_period_end_refuses_a_naive_anchor_and_a_negative_index():
    with pytest.raises(ValueError, match="aware"):
        pricing.period_end(datetime(2027, 1, 1), "daily", 1, SINGAPORE)
    with pytest.raises(ValueError, match="negative"):
        pricing.period_end(NOW, "daily", -1, SINGAPORE)


@hsettings(max_examples=300, deadline=None)
@given(anchor=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)),
       period=st.sampled_from(["daily", "weekly", "monthly", "annual"]), n=st.integers(0, 60))
def test_period_ends_move_forward_and_monthly_ones_never_drift_from_the_anchors_day(anchor, period, n):
    this_end = pricing.period_end(anchor, period, n, SINGAPORE)
    next_end = pricing.period_end(anchor, period, n + 1, SINGAPORE)
    assert this_end < next_end
    anchor_day = anchor.astimezone(ZoneInfo(SINGAPORE)).day
    if period in ("monthly", "annual"):
        assert next_end.day == anchor_day or (next_end.day < anchor_day and (next_end + timedelta(days=1)).day == 1)


def test_consent_period_names_the_word_a_consent_record_keeps():
    assert [pricing.consent_period(p) for p in ("daily", "weekly", "monthly", "annual", None)] == \
        ["day", "week", "month", "year", "once"]


# --- packs.decide_purchase: M1 data pack carry-over -------------------------------------------

M1_DATA = {"carry_over": True, "max_validity_days": 30, "validity_days": 30}


def test_a_data_pack_bought_again_before_it_expires_carries_the_remaining_allowance_over():
    data = pack(**M1_DATA)
    live = [holding("data-5gb", "p1", NOW + timedelta(days=4))]
    purchase = packs.decide_purchase(data, now=NOW, live_same=live, balances={"data_mb": 1200})
    assert purchase.grants == [("data_mb", 5120)]
    assert purchase.carried == [("data_mb", 1200)]
    assert purchase.superseded == ("p1",)
    assert purchase.expires_at == NOW + timedelta(days=30)


def test_carried_over_validity_never_exceeds_30_days_from_the_purchase():
    """A week pack bought with 25 days still left would reach 32 days out: the cap holds it to 30."""
    week = pack(**{**M1_DATA, "validity_days": 7})
    live = [holding("data-5gb", "p1", NOW + timedelta(days=25))]
    purchase = packs.decide_purchase(week, now=NOW, live_same=live, balances={"data_mb": 10})
    assert purchase.expires_at == NOW + timedelta(days=30)
    short = packs.decide_purchase(week, now=NOW, live_same=[holding("data-5gb", "p1", NOW + timedelta(days=3))],
                                  balances={"data_mb": 10})
    assert short.expires_at == NOW + timedelta(days=10)


def test_nothing_is_carried_from_an_expired_or_cancelled_pack_nor_without_carry_over():
    data = pack(**M1_DATA)
    gone = [holding("data-5gb", "p1", NOW - timedelta(seconds=1)), holding("data-5gb", "p2", None, "cancelled")]
    purchase = packs.decide_purchase(data, now=NOW, live_same=gone, balances={"data_mb": 900})
    assert (purchase.carried, purchase.superseded) == ([], ())
    plain = packs.decide_purchase(pack(), now=NOW, live_same=[holding("data-5gb", "p1", NOW + timedelta(days=4))],
                                  balances={"data_mb": 900})
    assert (plain.carried, plain.expires_at) == ([], NOW + timedelta(days=30))


def test_more_than_the_live_packs_granted_is_never_carried():
    """Data from elsewhere in the same bucket (a bonus) keeps its own expiry."""
    data = pack(**M1_DATA)
    purchase = packs.decide_purchase(data, now=NOW, live_same=[holding("data-5gb", "p1", NOW + timedelta(days=1))],
                                     balances={"data_mb": 9000})
    assert purchase.carried == [("data_mb", 5120)]


@hsettings(max_examples=300, deadline=None)
@given(validity=st.integers(1, 60), longer=st.integers(0, 60), left_days=st.lists(st.integers(-5, 90), max_size=3),
       balance=st.integers(0, 20_000))
def test_carried_over_validity_never_beyond_the_cap_and_never_more_than_was_held(validity, longer, left_days, balance):
    cap = validity + longer
    data = pack(carry_over=True, validity_days=validity, max_validity_days=cap)
    live = [holding("data-5gb", f"p{i}", NOW + timedelta(days=days)) for i, days in enumerate(left_days)]
    purchase = packs.decide_purchase(data, now=NOW, live_same=live, balances={"data_mb": balance})
    assert NOW < purchase.expires_at <= NOW + timedelta(days=min(cap, validity + max([0, *left_days])))
    assert sum(amount for _, amount in purchase.carried) <= balance


# --- packs.decide_purchase: M1 roaming limit --------------------------------------------------

def roaming() -> Pack:
    return pack(id="roam-3gb", keyword="ROAM3", validity_days=30, max_active=2, extra_when_below_mb=2048,
                allowances=[{"kind": "data_mb", "bucket": "roaming_data_mb", "amount": 3072}])


def live_roaming(count: int) -> list[Item]:
    return [holding("roam-3gb", f"r{i}", NOW + timedelta(days=10)) for i in range(count)]


def test_at_most_2_identical_roaming_packs_a_3rd_only_below_2_gb():
    assert not isinstance(packs.decide_purchase(roaming(), now=NOW, live_same=live_roaming(1),
                                                balances={"roaming_data_mb": 5000}), Refusal)
    third = packs.decide_purchase(roaming(), now=NOW, live_same=live_roaming(2), balances={"roaming_data_mb": 2048})
    assert isinstance(third, Refusal) and third.reason == "pack_limit"
    allowed = packs.decide_purchase(roaming(), now=NOW, live_same=live_roaming(2), balances={"roaming_data_mb": 2047})
    assert not isinstance(allowed, Refusal) and allowed.grants == [("roaming_data_mb", 3072)]


def test_a_4th_roaming_pack_is_refused_however_little_data_is_left():
    fourth = packs.decide_purchase(roaming(), now=NOW, live_same=live_roaming(3), balances={"roaming_data_mb": 0})
    assert isinstance(fourth, Refusal) and fourth.params["limit"] == 2


def test_expired_roaming_packs_do_not_count_towards_the_limit():
    expired = [holding("roam-3gb", f"x{i}", NOW - timedelta(hours=1)) for i in range(3)]
    assert not isinstance(packs.decide_purchase(roaming(), now=NOW, live_same=expired,
                                                balances={"roaming_data_mb": 9000}), Refusal)


# --- plans.decide_change: M1 #100# ------------------------------------------------------------

RULE = PlanChange.model_validate({"min_balance": "1.00", "fee": "1.00"}, context={"currency": SGD})
BASIC = Plan.model_validate({"id": "basic", "names": {"en": "Basic"}}, context={"currency": SGD})


def change(**overrides):
    values = {"current": "value", "wanted": BASIC, "line_active": True, "balance": 500, "changes_so_far": 0}
    return plans.decide_change(RULE, **{**values, **overrides})


def test_tariff_plan_change_first_free_then_1_00_from_main():
    assert change() == plans.PlanQuote(plan=BASIC, fee=0)
    assert change(changes_so_far=1) == plans.PlanQuote(plan=BASIC, fee=100)
    assert change(changes_so_far=7).fee == 100


def test_tariff_plan_change_needs_the_balance_above_1_00():
    assert change(balance=100).reason == "insufficient_balance"
    assert change(balance=101) == plans.PlanQuote(plan=BASIC, fee=0)
    assert change(balance=101, changes_so_far=1).fee == 100


def test_tariff_plan_change_needs_the_line_active_a_known_plan_and_a_different_one():
    assert change(line_active=False).reason == "line_not_active"
    assert change(wanted=None).reason == "unknown_plan"
    assert change(current="basic").reason == "same_plan"


def test_a_fee_larger_than_the_minimum_is_refused_when_the_balance_cannot_pay_it():
    costly = RULE.model_copy(update={"fee": 300})
    refused = plans.decide_change(costly, current=None, wanted=BASIC, line_active=True, balance=200, changes_so_far=1)
    assert isinstance(refused, Refusal) and refused.params["fee"] == 300


# --- the shipped presets ----------------------------------------------------------------------

DEMO = load_file(Path("shared/operators/demo.yaml"))
M1 = load_file(Path("tests/fixtures/operators/m1.yaml"))
DEMOTEL = load_preset("demotel-subscriptions", DEMO.currency)
M1_CATALOGUE = load_preset("m1-subscriptions", M1.currency)


def test_the_operator_profiles_switch_the_service_on_with_their_preset():
    assert preset_names() == ["demotel-subscriptions", "m1-subscriptions"]
    assert config_for(DEMO) == DEMOTEL and config_for(M1) == M1_CATALOGUE
    assert config_for(DEMO.model_copy(update={"services": {}})) is None


def test_demotel_sells_every_period_a_trial_a_price_change_and_packs_of_each_allowance():
    assert {product.period for product in DEMOTEL.subscriptions} == {"daily", "weekly", "monthly", "annual"}
    music, kino = DEMOTEL.product("music-monthly"), DEMOTEL.product("kino-monthly")
    assert (music.trial_days, music.price) == (7, 15_000_00)
    assert pricing.price_at(kino, date(2026, 12, 31)) == 20_000_00 and pricing.price_at(kino, date(2027, 1, 1)) == 25_000_00
    assert {allowance.bucket for pack in DEMOTEL.packs for allowance in pack.allowances} == {"data_mb", "voice_min", "sms"}
    assert DEMOTEL.by_keyword(" music ") == music


def test_reminders_default_to_3_days_before_and_on_the_day_and_a_daily_one_only_on_the_day():
    assert DEMOTEL.product("music-monthly").reminders.days_before == [3, 0]
    assert DEMOTEL.product("horoscope-daily").reminders.days_before == [0]
    assert DEMOTEL.product("shield-annual").reminders.days_before == [30, 7, 0]


def test_m1_data_pack_bought_again_before_it_expires_carries_the_remaining_allowance_over():
    data = M1_CATALOGUE.product("data-5gb")
    purchase = packs.decide_purchase(data, now=NOW, live_same=[holding("data-5gb", "p1", NOW + timedelta(days=2))],
                                     balances={"data_mb": 700})
    assert purchase.grants == [("data_mb", 5120)] and purchase.carried == [("data_mb", 700)]
    assert purchase.expires_at == NOW + timedelta(days=30)


def test_m1_carried_over_validity_never_exceeds_30_days_from_the_purchase():
    week = M1_CATALOGUE.product("data-1gb-week")
    purchase = packs.decide_purchase(week, now=NOW, live_same=[holding("data-1gb-week", "p1", NOW + timedelta(days=28))],
                                     balances={"data_mb": 300})
    assert purchase.expires_at == NOW + timedelta(days=30) and purchase.carried == [("data_mb", 300)]


def test_m1_at_most_2_identical_roaming_packs_active_a_3rd_only_below_2_gb():
    roam = M1_CATALOGUE.product("roam-asia-3gb")
    two = [holding("roam-asia-3gb", f"r{i}", NOW + timedelta(days=9)) for i in range(2)]
    refused = packs.decide_purchase(roam, now=NOW, live_same=two, balances={"roaming_data_mb": 2 * 1024})
    assert isinstance(refused, Refusal) and refused.reason == "pack_limit"
    third = packs.decide_purchase(roam, now=NOW, live_same=two, balances={"roaming_data_mb": 2 * 1024 - 1})
    assert not isinstance(third, Refusal) and third.carried == []
    fourth = packs.decide_purchase(roam, now=NOW, live_same=[*two, holding("roam-asia-3gb", "r3", None)],
                                   balances={"roaming_data_mb": 0})
    assert isinstance(fourth, Refusal)


def test_m1_tariff_plan_change_on_100_line_active_balance_above_1_first_free_then_1_from_main():
    rule, wanted = M1_CATALOGUE.plan_change, M1_CATALOGUE.plan("prepaid-data")
    assert (rule.ussd_code, rule.bucket) == ("#100#", "main")
    ask = {"current": "prepaid-basic", "wanted": wanted, "line_active": True}
    assert plans.decide_change(rule, **ask, balance=101, changes_so_far=0) == plans.PlanQuote(wanted, 0)
    assert plans.decide_change(rule, **ask, balance=500, changes_so_far=1) == plans.PlanQuote(wanted, 100)
    assert plans.decide_change(rule, **ask, balance=100, changes_so_far=0).reason == "insufficient_balance"
    assert plans.decide_change(rule, **{**ask, "line_active": False}, balance=500, changes_so_far=0).reason == \
        "line_not_active"


def test_m1_annual_subscription_renews_on_its_anniversary():
    ehawaii = M1_CATALOGUE.product("ehawaii-annual")
    assert ehawaii.period == "annual" and ehawaii.price == 9900
    started = datetime(2026, 12, 1, 10, 30, tzinfo=ZoneInfo(SINGAPORE))
    assert pricing.period_end(started, ehawaii.period, 1, M1.timezone) == started.replace(year=2027)
    assert pricing.consent_period(ehawaii.period) == "year"


# --- validation: the file and the field named -------------------------------------------------

def preset_with(tmp_path, *, subscriptions="", packs_yaml="", extra="") -> Path:
    path = tmp_path / "broken-catalogue.yaml"
    path.write_text(
        "name: broken-catalogue\ntitle: X\ncurrency: SGD\nussd_code: '*120#'\nshort_code: '72020'\n"
        f"subscriptions:\n{subscriptions or NEWS_YAML}\npacks:\n{packs_yaml or '  []'}\n{extra}"
    )
    return path


NEWS_YAML = "  - {id: news, keyword: NEWS, names: {en: News}, price: '1.00', period: monthly}"


@pytest.mark.parametrize("subscriptions, packs_yaml, extra, field, complaint", [
    ("  - {id: yes, keyword: 'YES', names: {en: Y}, price: '1', period: monthly}", "", "",
     "subscriptions[0].keyword", "the short code answers itself"),
    ("  - {id: ha, keyword: HA, names: {uz: H}, price: '1', period: monthly}", "", "",
     "subscriptions[0].keyword", "the short code answers itself"),
    ("  - {id: help, keyword: HELP, names: {en: H}, price: '1', period: monthly}", "", "",
     "subscriptions[0].keyword", "the short code answers itself"),
    ("  - {id: on, keyword: ON, names: {en: On}, price: '1', period: monthly}", "", "",
     "subscriptions[0].keyword", "write the keyword in quotes"),
    ("  - {id: stop, keyword: STOP, names: {en: S}, price: '1', period: monthly}", "", "",
     "subscriptions[0].keyword", "the short code answers itself"),
    ("  - {id: n, keyword: NEWS, names: {en: N}, price: '1', period: monthly, reminders: {days_before: [0, 3]}}",
     "", "", "subscriptions[0].reminders.days_before", "earliest reminder first"),
    ("  - {id: n, keyword: NEWS, names: {en: N}, price: '1', period: weekly, reminders: {days_before: [7, 0]}}",
     "", "", "subscriptions[0]", "remind fewer days before"),
    ("  - {id: n, keyword: NEWS, names: {en: N}, price: '1', period: monthly, price_changes: "
     "[{price: '2', effective: '2027-05-01'}, {price: '3', effective: '2027-01-01'}]}", "", "",
     "subscriptions[0].price_changes", "earliest first"),
    ("  - {id: n, keyword: NEWS, names: {en: N}, price: '1', period: monthly, price_changes: [{price: '2'}]}",
     "", "", "subscriptions[0].price_changes[0].effective", "required field is missing"),
    ("  - {id: n, keyword: NEWS, names: {en: N}, price: '1', period: monthly, renewal: {retry_hours: [6, 96]}}",
     "", "", "subscriptions[0].renewal", "after the grace period"),
    ("  - {id: n, keyword: NEWS, names: {en: N}, price: '1', period: monthly, bucket: data_mb}", "", "",
     "subscriptions[0].bucket", "unknown bucket 'data_mb' (known: bonus, main;"),
    ("  - {id: n, keyword: NEWS, names: {en: N}, price: '1', period: monthly, bucket: gold}", "", "",
     "subscriptions[0].bucket", "unknown bucket 'gold'"),
    ("", "  - {id: d, keyword: NEWS, names: {en: D}, price: '1', validity_days: 7, "
     "allowances: [{kind: data_mb, bucket: data_mb, amount: 1}]}", "", "(top level)", "keyword 'NEWS' is used by two"),
    ("", "  - {id: d, keyword: D1, names: {en: D}, price: '1', validity_days: 7, "
     "allowances: [{kind: sms, bucket: data_mb, amount: 1}]}", "", "packs[0].allowances[0]", "does not hold sms"),
    ("", "  - {id: d, keyword: D1, names: {en: D}, price: '1', validity_days: 7, "
     "allowances: [{kind: data_mb, bucket: main, amount: 1}]}", "", "packs[0].allowances[0].bucket",
     "unknown allowance bucket 'main' (known: data_mb, roaming_data_mb, sms, voice_min;"),
    ("", "  - {id: d, keyword: D1, names: {en: D}, price: '1', validity_days: 7, max_validity_days: 30, "
     "allowances: [{kind: data_mb, bucket: data_mb, amount: 1}]}", "", "packs[0]", "set carry_over: true"),
    ("", "  - {id: d, keyword: D1, names: {en: D}, price: '1', validity_days: 7, extra_when_below_mb: 10, "
     "allowances: [{kind: data_mb, bucket: data_mb, amount: 1}]}", "", "packs[0]", "set max_active too"),
    ("", "", "plans: [{id: a, names: {en: A}}]\nplan_change: {min_balance: '1', fee: '1'}\n", "(top level)",
     "at least two plans"),
])
def test_a_broken_catalogue_is_refused_naming_the_file_and_the_field(tmp_path, subscriptions, packs_yaml, extra,
                                                                      field, complaint):
    path = preset_with(tmp_path, subscriptions=subscriptions, packs_yaml=packs_yaml, extra=extra)
    with pytest.raises(ConfigError) as raised:
        load_config(path, SGD)
    message = str(raised.value)
    assert str(path) in message
    assert any(line.strip().startswith(f"{field}:") and complaint in line for line in message.splitlines()), message


def test_a_sound_catalogue_written_like_the_broken_ones_loads(tmp_path):
    """The broken cases above differ from this one only in what they break."""
    catalogue = load_config(preset_with(tmp_path), SGD)
    assert catalogue.product("news").reminders.days_before == [3, 0]


def test_a_name_is_shown_in_the_subscribers_language_else_in_the_first_one_written():
    ehawaii = M1_CATALOGUE.product("ehawaii-annual")
    assert ehawaii.name_in("zh") == "eHawaii.gov 年度订阅"
    assert ehawaii.name_in("ru") == "eHawaii.gov annual subscription"
    assert M1_CATALOGUE.plan("prepaid-talk").name_in("uz") == "Prepaid Talk"
