"""A campaign is checked whole before it is saved (functions/voice_plus/store.py): every refusal names the field and
the reason — the model, the catalogue's product and its kind, the add-on's fit, the SMS keyword, the operator's
languages, the cap's period, the status moves."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from functions.voice_plus import store
from functions.voice_plus.__main__ import entries_of
from functions.voice_plus.config import config_for
from functions.voice_plus.documents import Campaign
from shared import operator

PROFILE = operator.current()
CONFIG = config_for(PROFILE)
LANGUAGES = ("en", "ru", "uz", "ky", "zh")


def raw(channel: str = "voice", **fields: object) -> dict:
    base: dict[str, object] = {
        "id": f"{channel}-offer",
        "name": "Offer",
        "channel": channel,
        "offer": {"kind": "bundle", "product": "data-1gb"},
        "schedule": {"starts": "2026-01-01"},
        "cap": {"plays": 1, "period_hours": 24},
    }
    if channel == "voice":
        base["voice"] = {language: {"say": "Press 1"} for language in LANGUAGES}
    else:
        base["text"] = {language: "1 GB" for language in LANGUAGES}
    if channel == "sms":
        base["keyword"] = "NETX"
    return {**base, **fields}


def reasons(
    campaign: Campaign,
    before: Campaign | None = None,
    others: list[Campaign] | None = None,
    profile: operator.OperatorProfile = PROFILE,
) -> list[str]:
    return store.problems(campaign, before, others or [], CONFIG, profile)


def test_a_campaign_of_the_catalogue_in_force_in_the_operators_languages_is_accepted():
    for channel in ("voice", "ussd", "sms"):
        assert reasons(store.parsed(raw(channel))) == []


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        ({"kind": "bundle", "product": "no-such"}, "offer.product: no-such is not in the catalogue in force"),
        (
            {"kind": "bundle", "product": "music-monthly"},
            "offer.product: music-monthly is a subscription, but offer.kind bundle needs a pack",
        ),
        (
            {"kind": "product", "product": "data-1gb"},
            "offer.product: data-1gb is a pack, but offer.kind product needs a subscription",
        ),
        (
            {"kind": "plan", "product": "data-1gb"},
            "offer.product: data-1gb is a pack, but offer.kind plan needs a plan",
        ),
    ],
)
def test_an_offer_missing_from_the_catalogue_or_of_another_kind_is_refused(offer, expected):
    assert reasons(store.parsed(raw(offer=offer))) == [expected]


def test_the_model_refuses_with_the_field_named():
    with pytest.raises(store.Refused) as refused:
        store.parsed(
            {
                **raw(),
                "cap": {"plays": 0, "period_hours": 24},
                "offer": {"kind": "bundle", "product": "x", "keys": {"1": "info"}},
            }
        )
    assert refused.value.campaign_id == "voice-offer"
    assert any(reason.startswith("cap.plays: ") for reason in refused.value.reasons)
    assert any(
        reason.startswith("offer.keys: ") and "exactly one key activates" in reason for reason in refused.value.reasons
    )
    with pytest.raises(store.Refused) as missing:
        store.parsed({key: value for key, value in raw().items() if key != "schedule"})
    assert missing.value.reasons == ["schedule: Field required"]


def test_a_ussd_text_that_cannot_fit_the_screen_is_refused_naming_the_language():
    long_russian = {**raw("ussd")["text"], "ru": "Подключите один гигабайт интернета на неделю"}
    found = reasons(store.parsed(raw("ussd", text=long_russian)))
    assert len(found) == 1 and found[0].startswith("text.ru: ") and "UCS-2" in found[0]


@pytest.mark.parametrize("word", ["YES", "HA", "NO", "HELP"])
def test_an_sms_keyword_the_short_code_answers_itself_is_refused(word):
    assert reasons(store.parsed(raw("sms", keyword=word))) == [
        f"keyword: {word} is a word the short code answers itself (YES, NO, HELP)"
    ]


@pytest.mark.parametrize(("status", "taken"), [("live", True), ("paused", True), ("draft", False), ("stopped", False)])
def test_an_sms_keyword_is_refused_only_while_another_live_or_paused_campaign_uses_it(status, taken):
    other = store.parsed(raw("sms", id="other-offer", status=status))
    found = reasons(store.parsed(raw("sms")), others=[other])
    assert found == (["keyword: NETX is used by campaign other-offer"] if taken else [])
    # The campaign itself, stored with its keyword, does not take it from itself.
    assert reasons(store.parsed(raw("sms", status="live")), others=[store.parsed(raw("sms", status="live"))]) == []


def test_a_language_the_operator_does_not_serve_is_refused():
    two_languages = PROFILE.model_copy(update={"languages": ["uz", "ru"], "default_language": "uz"})
    found = reasons(store.parsed(raw()), profile=two_languages)
    assert found == ["voice: languages ['en', 'ky', 'zh'] are not the operator's (uz, ru)"]


def test_a_cap_period_longer_than_plays_are_kept_is_refused():
    week = CONFIG.model_copy(update={"caps_horizon_days": 7})
    campaign = store.parsed(raw(cap={"plays": 1, "period_hours": 7 * 24 + 1}))
    assert store.problems(campaign, None, [], week, PROFILE) == [
        "cap.period_hours: 169 h is longer than plays are kept (7 days, caps_horizon_days)"
    ]
    assert store.problems(campaign, None, [], CONFIG, PROFILE) == []


ALLOWED = {
    ("draft", "draft"),
    ("draft", "live"),
    ("draft", "stopped"),
    ("live", "live"),
    ("live", "paused"),
    ("live", "stopped"),
    ("paused", "paused"),
    ("paused", "live"),
    ("paused", "stopped"),
}


@pytest.mark.parametrize(("before", "after"), list(itertools.product(["draft", "live", "paused", "stopped"], repeat=2)))
def test_status_moves_draft_to_live_live_and_paused_both_ways_any_to_stopped_and_stopped_is_final(before, after):
    found = reasons(store.parsed(raw(status=after)), before=store.parsed(raw(status=before)))
    if (before, after) in ALLOWED:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith("status: ")


def test_a_new_campaign_cannot_start_stopped_nor_change_its_channel():
    assert reasons(store.parsed(raw(status="stopped"))) == ["status: a new campaign cannot start stopped"]
    voice = store.parsed(raw(id="same"))
    as_ussd = store.parsed(raw("ussd", id="same"))
    assert reasons(as_ussd, before=voice) == ["channel: a campaign stays on its channel (voice); create a new one"]


def test_changes_name_each_differing_field_with_before_and_after():
    assert store.changes({"status": "live", "weight": 1}, {"status": "paused", "weight": 1}) == {
        "status": {"before": "live", "after": "paused"}
    }
    assert store.changes(None, {"weight": 1}) == {"weight": {"before": None, "after": 1}}


def test_an_entry_naming_no_status_keeps_the_stored_one():
    stored = store.parsed(raw(status="paused"))
    entry = {key: value for key, value in raw(name="Renamed").items() if key != "status"}
    assert store.imported(entry)(stored).status == "paused"
    assert store.imported(entry)(None).status == "draft"


def test_a_file_holds_one_campaign_a_list_or_a_campaigns_key():
    assert entries_of({"id": "a"}) == [{"id": "a"}]
    assert entries_of([{"id": "a"}, {"id": "b"}]) == [{"id": "a"}, {"id": "b"}]
    assert entries_of({"campaigns": [{"id": "a"}]}) == [{"id": "a"}]
    for nothing in (None, [], "text", [1, 2], {"campaigns": []}):
        assert isinstance(entries_of(nothing), str)


EXAMPLES = Path(__file__).parents[2] / "functions" / "voice_plus" / "campaigns"


def test_the_demos_campaigns_pass_every_check_one_per_channel():
    examples = [store.parsed(yaml.safe_load(path.read_text(encoding="utf-8"))) for path in EXAMPLES.glob("*.yaml")]
    assert sorted(example.channel for example in examples) == ["sms", "ussd", "voice"]
    for example in examples:
        assert reasons(example, others=examples) == [], example.id
    [voice] = [example for example in examples if example.channel == "voice"]
    assert (voice.offer.kind, voice.offer.product, voice.offer.confirm) == ("bundle", "data-1gb", True)
    assert (voice.cap.plays, voice.cap.period_hours) == (1, 24)
    assert sorted(voice.voice) == sorted(LANGUAGES) and all(prompt.say for prompt in voice.voice.values())
