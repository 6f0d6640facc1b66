"""The mailbox PIN's storage and lock-out rules, and the shared consent record's decisions (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from functions.missed_calls import options, pin
from functions.missed_calls.config import load_preset
from shared import consent
from shared.events import MissedCallOptionsChanged, VoicemailPinEntered
from shared.money import Currency

OWNER = "+998971300909"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def test_a_pin_is_stored_as_a_salted_scrypt_hash_with_its_parameters():
    first, second = pin.hashed("4821"), pin.hashed("4821")
    assert first.salt != second.salt and first.hash != second.hash          # a fresh salt each time
    assert (first.n, first.r, first.p) == (pin.SCRYPT_N, pin.SCRYPT_R, pin.SCRYPT_P)
    assert "4821" not in first.model_dump_json()
    assert pin.matches("4821", first.model_dump()) and not pin.matches("4822", first.model_dump())


@pytest.mark.parametrize("stored", [{}, {"salt": "zz", "hash": "00", "n": 2, "r": 1, "p": 1}, {"hash": None}])
def test_a_malformed_stored_pin_matches_nothing(stored):
    assert not pin.matches("4821", stored)


@pytest.mark.parametrize("typed", ["", "123", "123456789", "12a4", "١٢٣٤"])
def test_a_pin_is_4_to_8_ascii_digits(typed):
    assert not pin.valid(typed)
    with pytest.raises(ValueError):
        pin.hashed(typed)


def test_only_full_attestation_and_the_owners_choice_skip_the_pin():
    trusting = True  # the owner's voicemail_trust_own_phone
    assert pin.skips_pin(trusting, "TN-Validation-Passed-A")
    assert not pin.skips_pin(False, "TN-Validation-Passed-A")
    for weaker in (None, "", "TN-Validation-Passed-B", "TN-Validation-Passed-C", "No-TN-Validation"):
        assert not pin.skips_pin(trusting, weaker)


def entered(right: bool, minutes: int, call_sid: str = "CA1", attempt: int = 1,
            locked: bool = False) -> VoicemailPinEntered:
    return VoicemailPinEntered(request_id=f"{call_sid}:{attempt}", msisdn=OWNER, call_sid=call_sid, attempt=attempt,
                               right=right, locked=locked, at=NOW + timedelta(minutes=minutes))


USER = {"voicemail_pin": {**pin.hashed("4821").model_dump(), "set_at": NOW}}


def test_the_wrong_pin_the_line_counted_as_the_last_try_locks_and_a_right_one_clears_the_failures():
    user = dict(USER)
    for n in range(1, 6):   # the service never counts on its own: only the line's verdict locks
        update, locked = pin.after_entry(user, entered(False, n, f"CA{n}"), limit=5, now=NOW)
        user.update(update)
        assert not locked and not update.get("voicemail_locked_at")
    update, locked = pin.after_entry(user, entered(False, 6, "CA6", locked=True), limit=5, now=NOW)
    assert locked and update["voicemail_locked_at"] == NOW and len(update["voicemail_pin_failures"]) == 5

    cleared, _ = pin.after_entry({**USER, "voicemail_pin_failures": user["voicemail_pin_failures"]},
                                 entered(True, 5), limit=5, now=NOW)
    assert cleared["voicemail_pin_failures"] == []


def test_entries_from_before_the_pin_was_set_or_on_a_locked_mailbox_change_nothing():
    assert pin.after_entry(USER, entered(False, -1), limit=5, now=NOW) == ({}, False)
    assert pin.after_entry({**USER, "voicemail_locked_at": NOW}, entered(True, 1), limit=5, now=NOW) == ({}, False)


def asked(at: datetime = NOW) -> consent.Consent:
    return consent.asked(offer="missed_calls.mailbox", msisdn=OWNER, channel="sms", language="en", shown="Costs 1.",
                         price=100, currency="UZS", period="month",
                         request=consent.Answer(text="REG", reference="sms:SM1", at=at))


def test_a_reply_within_the_window_decides_and_one_at_its_end_has_expired():
    question = asked()
    yes = consent.Answer(text="YES", reference="sms:SM2", at=NOW + consent.SMS_REPLY_WINDOW - timedelta(seconds=1))
    assert consent.answered(question, yes, accepted=True).status == "confirmed"
    assert consent.answered(question, yes, accepted=False).status == "declined"
    late = yes.model_copy(update={"at": NOW + consent.SMS_REPLY_WINDOW})
    expired = consent.answered(question, late, accepted=True)
    assert (expired.status, expired.confirmation, expired.request) == ("expired", late, question.request)


def test_a_decided_consent_is_not_decided_again_and_the_same_request_names_the_same_record():
    confirmed = consent.answered(asked(), consent.Answer(text="YES", reference="sms:SM2", at=NOW), accepted=True)
    assert consent.answered(confirmed, consent.Answer(text="NO", reference="sms:SM3", at=NOW),
                            accepted=False) == confirmed
    assert asked().id == asked(NOW + timedelta(hours=1)).id


UZS = Currency(code="UZS", minor_unit=2, symbol="so'm")
MAILBOX = load_preset("demotel-reminder", UZS)


def _yes_to_the_mailbox(at: datetime) -> MissedCallOptionsChanged:
    said = consent.Answer(text="YES", reference="sms:SM-yes", at=at)
    return MissedCallOptionsChanged(request_id="sms:SM-yes", msisdn=OWNER, action="register", channel="sms",
                                    requested_at=at, said=said, consent_reply=True)


def _mailbox_question(price: int) -> consent.Consent:
    return consent.asked(offer=options.MAILBOX_OFFER, msisdn=OWNER, channel="sms", language="en",
                         shown="The voice mailbox costs …", price=price, currency="UZS", period="month",
                         request=consent.Answer(text="REG", reference="sms:SM-reg", at=NOW))


def test_a_yes_to_the_old_price_after_a_fee_change_charges_nothing_and_asks_again_with_the_new_price():
    old_fee = MAILBOX.charging.monthly_fee - 1_000 * 100
    reply = _yes_to_the_mailbox(NOW + timedelta(minutes=5))
    step = options.sign_up(options.new_user(OWNER), reply, _mailbox_question(old_fee), config=MAILBOX, currency=UZS,
                           language="en")
    assert not step.register
    assert step.answer.template == "missed_calls.options.confirm_register"
    assert step.answer.params["fee"] == UZS.format(MAILBOX.charging.monthly_fee)
    old, new = step.records
    assert (old.status, old.price) == ("replaced", old_fee)
    assert (new.status, new.price, new.request) == ("pending", MAILBOX.charging.monthly_fee, reply.said)

    same_price = options.sign_up(options.new_user(OWNER), reply, _mailbox_question(MAILBOX.charging.monthly_fee),
                                 config=MAILBOX, currency=UZS, language="en")
    assert same_price.register and [r.status for r in same_price.records] == ["confirmed"]
