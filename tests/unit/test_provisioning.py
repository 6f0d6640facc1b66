"""BSS provisioning rules without I/O: profile updates, network state order, top-up validity and notice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from functions.provisioning import subscribers, topups
from shared import texts
from shared.events import NetworkAttachment, SubscriberProvisioned, TopUp
from shared.money import Currency

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
ALICE = "+998901234567"
UZS = Currency(code="UZS", minor_unit=2, symbol="so'm")


def update(**fields) -> SubscriberProvisioned:
    return SubscriberProvisioned(msisdn=ALICE, **fields)


def test_a_new_profile_takes_the_operators_language_when_the_bss_gives_none():
    fields = subscribers.profile(None, update(), occurred_at=T0, now=T0, default_language="uz")
    assert fields["language"] == "uz" and fields["created_at"] == T0 and fields["status"] == "active"


def test_an_update_keeps_creation_time_and_unmentioned_language_and_name():
    first = subscribers.profile(None, update(language="ky", name="Aibek"), occurred_at=T0, now=T0,
                                default_language="uz")
    later = T0 + timedelta(hours=1)
    second = subscribers.profile(first, update(status="blocked"), occurred_at=later, now=later, default_language="uz")
    assert (second["language"], second["name"], second["created_at"], second["updated_at"]) == ("ky", "Aibek", T0, later)
    assert second["status"] == "blocked"


def test_an_update_older_than_the_stored_one_is_ignored():
    stored = subscribers.profile(None, update(status="blocked"), occurred_at=T0, now=T0, default_language="uz")
    assert subscribers.profile(stored, update(), occurred_at=T0 - timedelta(seconds=1), now=T0,
                               default_language="uz") is None


@pytest.mark.parametrize("stored, fields, later, expected", [
    ({"subscriber_id": "c-1"}, {"subscriber_id": "c-2"}, 60, True),          # another customer holds the number
    ({"subscriber_id": "c-1"}, {"subscriber_id": "c-1"}, 60, False),         # the same customer, updated
    ({"subscriber_id": "c-1"}, {"subscriber_id": "c-1", "new_owner": True}, 60, False),  # already theirs
    ({}, {"subscriber_id": "c-1"}, 60, False),                               # the BSS names the owner at last
    ({"subscriber_id": "c-1"}, {}, 60, False),                               # an update naming nobody
    ({}, {"new_owner": True}, 60, True),                                     # the flag, without ids
    ({"owner_since": T0}, {"new_owner": True}, 0, False),                    # the same flagged update again
    ({"owner_since": T0}, {"new_owner": True}, 60, True),                    # recycled once more, later
])
def test_a_new_owner_is_another_subscriber_id_or_the_flag_once(stored, fields, later, expected):
    existing = {**subscribers.profile(None, update(), occurred_at=T0, now=T0, default_language="uz"), **stored}
    assert subscribers.new_owner(existing, update(**fields), occurred_at=T0 + timedelta(seconds=later)) is expected
    assert subscribers.new_owner(None, update(**fields), occurred_at=T0) is False  # a first provisioning


def test_a_new_owner_keeps_nothing_of_the_old_one_but_the_lines_network_state():
    old = {**subscribers.profile(None, update(language="ru", name="Old", subscriber_id="c-1"), occurred_at=T0,
                                 now=T0, default_language="uz"),
           "transfers_barred": True, "first_topup_at": T0, "network_state": {"state": "attached", "at": T0}}
    later = T0 + timedelta(days=90)
    fresh = subscribers.reassigned(old, update(subscriber_id="c-2"), occurred_at=later, now=later,
                                   default_language="uz")
    assert (fresh["subscriber_id"], fresh["name"], fresh["language"], fresh["created_at"]) == ("c-2", None, "uz", later)
    assert fresh["owner_since"] == later and fresh["network_state"] == old["network_state"]
    assert "transfers_barred" not in fresh and "first_topup_at" not in fresh


@pytest.mark.parametrize("offset, applied", [(-60, False), (0, False), (60, True)])
def test_network_state_only_moves_forward_in_time(offset, applied):
    stored = {"state": "attached", "at": T0, "roaming": False}
    event = NetworkAttachment(msisdn=ALICE, state="detached", at=T0 + timedelta(seconds=offset))
    assert (subscribers.network_state(stored, event) is not None) is applied


def test_validity_counts_from_the_recharge_and_never_from_a_future_clock():
    topup = TopUp(msisdn=ALICE, amount=100, reference="R", validity_days=30)
    assert topups.expiry(topup, occurred_at=T0, now=T0 + timedelta(hours=5)) == T0 + timedelta(days=30)
    assert topups.expiry(topup, occurred_at=T0 + timedelta(days=1), now=T0) == T0 + timedelta(days=30)
    assert topups.expiry(topup.model_copy(update={"validity_days": None}), occurred_at=T0, now=T0) is None


def test_a_reused_reference_is_told_apart_from_a_repeat():
    topup = TopUp(msisdn=ALICE, amount=100, reference="R", validity_days=30)
    stored = topups.record(topup, entry_id="000000000001", expires_at=None, event_id="e", now=T0)
    assert topups.same_recharge(stored, topup)
    assert not topups.same_recharge(stored, topup.model_copy(update={"amount": 101}))


@pytest.mark.parametrize("reference, key", [("BSS-1", "BSS-1"), ("a/b", "a%2Fb"), ("..", "ref:.."),
                                            ("__x__", "ref:__x__")])
def test_references_become_valid_document_ids(reference, key):
    assert topups.reference_key(reference) == key


def test_an_overlong_reference_is_refused():
    with pytest.raises(ValueError):
        topups.reference_key("R" * 501)


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_the_topup_notice_renders_in_every_language(language):
    topup = TopUp(msisdn=ALICE, amount=2_500_000, reference="R", validity_days=30)
    notice = topups.notice(topup, balance=3_000_000, bucket_label="Main", expires_at=T0, currency=UZS,
                           zone=ZoneInfo("Asia/Tashkent"), language=language)
    body = texts.render(notice["template"], language, **notice["params"])
    # 12:00 UTC is 17:00 in Tashkent: the subscriber reads their own clock, written their way.
    local = {"en": "01/03/2025 17:00", "zh": "2025年03月01日 17:00"}.get(language, "01.03.2025 17:00")
    som = {"ru": "сумов", "ky": "сум", "zh": "苏姆"}.get(language, "so'm")
    grouped = "{},000" if language == "zh" else "{} 000"     # the reader's grouping of digits (CLDR)
    assert f"{grouped.format(25)} {som}" in body and f"{grouped.format(30)} {som}" in body and local in body
    assert all(isinstance(value, str) for value in notice["params"].values())


def test_texts_of_ledger_and_provisioning_have_every_language_and_the_same_placeholders():
    for key, translations in texts.catalog().items():
        if key.split(".")[0] in ("ledger", "topup"):
            assert set(translations) == set(texts.LANGUAGES), key
            assert len({frozenset(texts.placeholders(t)) for t in translations.values()}) == 1, key
