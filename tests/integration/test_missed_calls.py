"""Missed-call alerts on the real emulators, the spec's flows end to end through the runtime.

The demo operator (UZS, so'm with 2 decimals) runs the demotel-reminder preset: reminders and
'available' SMS cost 50 so'm when delivered, the mailbox 3 000 so'm a month, per-use charges stop
at 5 000 so'm a month. Recordings are deleted at the carrier through shared.carrier, stubbed here.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.missed_calls import documents
from functions.missed_calls import main as missed_calls
from functions.provisioning import main as provisioning
from functions.missed_calls import pin
from shared import bus, carrier, catalog, consent, ledger, runtime, store, texts
from shared.events import Envelope, utcnow

A, B, C = "+998901234567", "+998901234568", "+998901234569"
SOM = 100


# --- helpers --------------------------------------------------------------------------------

def deliver(entry_point, payload: dict, event_id: str, *, message_id: str | None = None) -> str:
    """Push one message to a catalog entry point through the runtime, as Pub/Sub would."""
    topic = catalog.load().consumer(entry_point.consumer).topic
    data, attributes = bus.encode(catalog.make_envelope(topic, payload, event_id=event_id))
    message_id = message_id or f"m-{event_id}-{time.monotonic_ns()}"
    return runtime.process(entry_point.consumer, entry_point.handler, message_id, data, attributes,
                           after_commit=entry_point.after_commit)


def outbox(entry_point, event_id: str, topic: str = "sms.send") -> list[dict]:
    marker = store.db().collection(store.PROCESSED).document(f"{entry_point.consumer}:{event_id}").get()
    return [item.data for item in (Envelope.model_validate(raw) for raw in marker.get("outbox")) if item.type == topic]


def subscriber(msisdn: str, language: str = "en", balance: int = 0) -> None:
    assert deliver(provisioning.on_subscriber, {"msisdn": msisdn, "language": language},
                   f"sub-{msisdn}-{time.monotonic_ns()}") == "processed"
    if balance:
        reference = f"seed-{msisdn}-{time.monotonic_ns()}"
        assert deliver(provisioning.on_topup, {"msisdn": msisdn, "amount": balance, "reference": reference},
                       reference) == "processed"


def balance(msisdn: str) -> int:
    return ledger.read_account(store.db(), msisdn).balance("main")


def network(msisdn: str, state: str, at, event_id: str) -> str:
    return deliver(missed_calls.on_attachment, {"msisdn": msisdn, "state": state, "at": at.isoformat()}, event_id)


def missed_call(sid: str, *, caller=A, callee=B, at=None, choice="none", final=True, **fields) -> str:
    payload = {"call_sid": sid, "caller": caller, "callee": callee, "reason": "unreachable",
               "called_at": (at or utcnow()).isoformat(), "choice": choice, "final": final, **fields}
    return deliver(missed_calls.on_missed_call, payload, f"{sid}-{choice}-{final}-{time.monotonic_ns()}")


def options(msisdn: str, action: str, request_id: str, number: str | None = None, **extra) -> str:
    return deliver(missed_calls.on_options_changed, {"request_id": request_id, "msisdn": msisdn, "action": action,
                                                     "number": number, "channel": "sms",
                                                     "requested_at": utcnow().isoformat(), **extra}, request_id)


def sms(request_id: str, body: str, at=None) -> dict:
    """What the edge publishes with an SMS's words (REG, or the reply to the sign-up question)."""
    return {"text": body, "reference": request_id, "at": (at or utcnow()).isoformat()}


def ask_to_register(msisdn: str, request_id: str) -> str:
    return options(msisdn, "register", request_id, said=sms(request_id, "REG"))


def reply(msisdn: str, body: str, request_id: str, *, accepted: bool = True, at=None) -> str:
    return options(msisdn, "register", request_id, said=sms(request_id, body, at), consent_reply=accepted)


def register(msisdn: str, request_id: str) -> str:
    """REG by SMS, then YES: the mailbox is confirmed (and charged)."""
    assert ask_to_register(msisdn, f"{request_id}-ask") == "processed"
    return reply(msisdn, "YES", request_id)


def sms_final(message_id: str, status: str, event_id: str, *, to=B, billing=documents.BILL_REMINDER) -> str:
    return deliver(missed_calls.on_sms_final, {"message_id": message_id, "to": to, "status": status,
                                               "billing": billing, "reference": "r", "template": "t",
                                               "segments": 1, "at": utcnow().isoformat()}, event_id)


def sent_while_away() -> list[dict]:
    """Every SMS the call consumer asked for (none while the callee is switched off)."""
    markers = store.db().collection(store.PROCESSED).where(
        filter=FieldFilter("consumer", "==", missed_calls.on_missed_call.consumer))
    return [item for marker in markers.stream() for item in marker.get("outbox") if item["type"] == "sms.send"]


def doc(collection: str, doc_id: str) -> dict | None:
    return store.db().collection(collection).document(doc_id).get().to_dict()


def month_turned(msisdn: str) -> dict:
    """The registered user's monthly fee falls due (this month not yet paid); the due work to deliver."""
    store.db().collection(documents.USERS).document(msisdn).update(
        {"fee_due_at": utcnow() - timedelta(minutes=1), "fee_months": []})
    return {"msisdn": msisdn, "work": "fee", "due_before": utcnow().isoformat()}


@pytest.fixture
def away(firestore_clean):
    """A and B are subscribers; B has been attached once (activation notice done) and is now switched off."""
    subscriber(A, "en", balance=10_000 * SOM)
    subscriber(B, "en", balance=10_000 * SOM)
    start = utcnow() - timedelta(hours=1)
    assert network(B, "attached", start, "hlr-b-1") == "processed"
    assert network(B, "detached", start + timedelta(minutes=1), "hlr-b-2") == "processed"
    return start


@pytest.fixture
def recordings(monkeypatch):
    """The carrier's recordings: every delete asked for, in order."""
    deleted: list[str] = []

    def delete_recording(sid: str) -> bool:
        deleted.append(sid)
        return True

    monkeypatch.setattr(carrier, "delete_recording", delete_recording)
    return deleted


# --- the spec's flows -----------------------------------------------------------------------

def test_the_first_attach_tells_a_subscriber_once_that_the_service_is_on(firestore_clean):
    subscriber(B, "ru")
    assert network(B, "attached", utcnow() - timedelta(minutes=5), "hlr-1") == "processed"
    assert network(B, "detached", utcnow() - timedelta(minutes=4), "hlr-2") == "processed"
    assert network(B, "attached", utcnow() - timedelta(minutes=3), "hlr-3") == "processed"
    [notice] = outbox(missed_calls.on_attachment, "hlr-1")
    assert (notice["to"], notice["template"], notice["language"], notice["billing"]) == \
        (B, "missed_calls.activation", "ru", None)
    assert outbox(missed_calls.on_attachment, "hlr-3") == []


def test_a_calls_switched_off_b_three_times_presses_2_and_b_gets_one_sms_saying_3_on_attach(away):
    now = utcnow()
    for n, choice in enumerate(("none", "none", "leave_number")):
        assert missed_call(f"CA{n}", at=now - timedelta(minutes=30 - n), choice=choice) == "processed"
    assert sent_while_away() == []

    assert network(B, "attached", now, "hlr-back") == "processed"

    [reminder] = outbox(missed_calls.on_attachment, "hlr-back")
    assert (reminder["to"], reminder["template"], reminder["billing"]) == \
        (B, "missed_calls.reminder.leave_number", documents.BILL_REMINDER)
    assert (reminder["params"]["caller"], reminder["params"]["count"]) == (A, 3)
    assert {doc(documents.MISSED_CALLS, f"CA{n}")["status"] for n in range(3)} == {"notified"}
    notice = doc(documents.NOTICES, B)
    assert [(c["caller"], c["count"], c["choice"]) for c in notice["calls"]] == [(A, 3, "leave_number")]
    assert notice["window_ends_at"] - notice["sent_at"] == timedelta(hours=24)


def test_a_caller_who_pressed_4_is_told_the_callee_is_available_unless_the_callee_wants_privacy(away):
    assert missed_call("CA4", caller=A, choice="notify_me", language="ru") == "processed"
    assert missed_call("CA5", caller=C, choice="notify_me") == "processed"
    assert options(B, "blacklist_add", "opt-1", number=C) == "processed"  # C's call is already kept

    assert network(B, "attached", utcnow(), "hlr-back") == "processed"
    sent = {(m["to"], m["template"]) for m in outbox(missed_calls.on_attachment, "hlr-back")}
    assert (A, "missed_calls.available") in sent and (C, "missed_calls.available") in sent
    [to_a] = [m for m in outbox(missed_calls.on_attachment, "hlr-back") if m["to"] == A]
    assert (to_a["language"], to_a["params"]["callee"], to_a["billing"]) == ("ru", B, documents.BILL_AVAILABILITY)
    assert (B, "missed_calls.reminder.short_notice") in sent


def test_privacy_withholds_the_available_sms(away):
    assert options(B, "privacy_on", "opt-privacy") == "processed"
    assert missed_call("CA4", caller=A, choice="notify_me") == "processed"
    assert network(B, "attached", utcnow(), "hlr-back") == "processed"
    assert [m["to"] for m in outbox(missed_calls.on_attachment, "hlr-back")] == [B]
    assert doc(documents.MISSED_CALLS, "CA4")["availability"] == "withheld_privacy"


def test_the_same_attach_delivered_twice_sends_nothing_twice(away):
    now = utcnow()
    assert missed_call("CA1", at=now - timedelta(minutes=5), choice="leave_number") == "processed"
    report = {"msisdn": B, "state": "attached", "at": now.isoformat()}
    assert deliver(missed_calls.on_attachment, report, "hlr-back", message_id="push-1") == "processed"
    assert deliver(missed_calls.on_attachment, report, "hlr-back", message_id="push-2") == "duplicate"
    # The HLR reporting the same attach again under another id is an old report: ignored.
    assert deliver(missed_calls.on_attachment, report, "hlr-back-again") == "processed"
    assert len(outbox(missed_calls.on_attachment, "hlr-back")) == 1
    assert outbox(missed_calls.on_attachment, "hlr-back-again") == []


def test_blacklisted_callers_are_kept_as_dropped_and_never_reminded(away):
    assert options(B, "blacklist_add", "opt-1", number=A) == "processed"
    assert missed_call("CA1", caller=A, choice="leave_number") == "processed"
    assert doc(documents.MISSED_CALLS, "CA1")["status"] == "dropped"
    assert network(B, "attached", utcnow(), "hlr-back") == "processed"
    assert outbox(missed_calls.on_attachment, "hlr-back") == []


def test_a_call_to_a_number_that_is_not_a_subscriber_is_rejected(firestore_clean):
    assert missed_call("CA1", callee=C) == "rejected"


def test_a_busy_callee_who_is_attached_is_told_as_soon_as_the_caller_finishes(away):
    assert network(B, "attached", utcnow() - timedelta(minutes=1), "hlr-back") == "processed"
    assert missed_call("CA1", choice="other_number", other_number=C, final=False, reason="busy") == "processed"
    assert doc(documents.MISSED_CALLS, "CA1")["status"] == "pending"  # still in the IVR
    assert missed_call("CA1", choice="other_number", other_number=C, final=True, reason="busy") == "processed"
    call = doc(documents.MISSED_CALLS, "CA1")
    assert call["status"] == "notified" and call["other_number"] == C and call["notice_id"]


def test_a_busy_forward_tells_a_callee_the_hlr_last_reported_as_switched_off(away):
    # The HLR's last word is an hour-old detach (a phone switched back on silently): the busy
    # forward itself proves the phone is on now.
    assert missed_call("CA2", choice="leave_number", final=True, reason="busy") == "processed"
    assert doc(documents.MISSED_CALLS, "CA2")["status"] == "notified"
    assert missed_call("CA3", choice="leave_number", final=True, reason="unreachable") == "processed"
    assert doc(documents.MISSED_CALLS, "CA3")["status"] == "pending"      # off now: told on attach


# --- voice messages -------------------------------------------------------------------------

def test_a_voice_message_for_an_unregistered_callee_becomes_a_number_reminder_and_its_recording_goes(
        away, recordings):
    assert missed_call("CA1", choice="voicemail", recording_sid="RE1", recording_url="http://r/RE1",
                       recording_seconds=9) == "processed"
    call = doc(documents.MISSED_CALLS, "CA1")
    assert (call["choice"], call["asked"], call["recording_sid"]) == ("leave_number", "voicemail", None)
    assert doc(documents.VOICEMAILS, "CA1") is None
    assert recordings == ["RE1"] and call["recording_deleted_at"]


def test_a_registered_callee_keeps_the_voice_message_until_deleted_then_the_recording_goes_once(away, recordings):
    assert register(B, "opt-reg") == "processed"
    assert missed_call("CA1", choice="voicemail", recording_sid="RE1", recording_url="http://r/RE1") == "processed"
    message = doc(documents.VOICEMAILS, "CA1")
    assert message["delete_after"] - message["recorded_at"] == timedelta(days=7)
    assert network(B, "attached", utcnow(), "hlr-back") == "processed"
    [reminder] = outbox(missed_calls.on_attachment, "hlr-back")
    assert reminder["template"] == "missed_calls.reminder.voicemail" and reminder["params"]["voicemail_number"] == "06002"

    played = {"request_id": "ivr-1", "msisdn": B, "call_sid": "CA1", "at": utcnow().isoformat()}
    assert deliver(missed_calls.on_voicemail_played, {**played, "action": "heard"}, "heard-1") == "processed"
    deleted = {**played, "request_id": "ivr-2", "action": "deleted"}
    assert deliver(missed_calls.on_voicemail_played, deleted, "del-1", message_id="p1") == "processed"
    assert deliver(missed_calls.on_voicemail_played, deleted, "del-1", message_id="p2") == "duplicate"
    message = doc(documents.VOICEMAILS, "CA1")
    assert message["heard_at"] and message["deleted"] and message["recording_deleted_at"]
    assert recordings == ["RE1"]


# --- options --------------------------------------------------------------------------------

def test_registering_charges_the_month_s_fee_once_and_a_short_balance_is_refused(firestore_clean):
    subscriber(B, "en", balance=5_000 * SOM)
    subscriber(C, "en", balance=1_000 * SOM)
    assert register(B, "reg-1") == "processed"
    assert ask_to_register(B, "reg-2") == "processed"
    assert balance(B) == 2_000 * SOM
    assert outbox(missed_calls.on_options_changed, "reg-1")[0]["template"] == "missed_calls.options.registered_charged"
    assert outbox(missed_calls.on_options_changed, "reg-2")[0]["template"] == "missed_calls.options.registered"

    assert register(C, "reg-c") == "processed"
    [refusal] = outbox(missed_calls.on_options_changed, "reg-c")
    assert refusal["template"] == "missed_calls.options.register_refused"
    assert refusal["params"] == {"fee": "3 000 so'm", "balance": "1 000 so'm"}
    assert balance(C) == 1_000 * SOM and not doc(documents.USERS, C)["registered"]


# --- the mailbox sign-up asks first ---------------------------------------------------------

def consent_records(msisdn: str) -> list[dict]:
    found = store.db().collection(consent.COLLECTION).where(filter=FieldFilter("msisdn", "==", msisdn)).stream()
    return sorted((snapshot.to_dict() for snapshot in found), key=lambda record: record["request"]["at"])


def test_reg_alone_charges_nothing_and_asks_to_confirm_with_price_and_period(firestore_clean):
    subscriber(B, "ru", balance=5_000 * SOM)
    assert ask_to_register(B, "sms:SM-reg") == "processed"
    [ask] = outbox(missed_calls.on_options_changed, "sms:SM-reg")
    assert ask["template"] == "missed_calls.options.confirm_register"
    assert ask["params"]["fee"].startswith("3 000 ")     # the mailbox's monthly fee, in the operator's currency
    assert {k: ask["params"][k] for k in ("short_code", "yes", "no", "minutes")} == \
        {"short_code": "06001", "yes": "ДА", "no": "НЕТ", "minutes": 15}
    assert balance(B) == 5_000 * SOM and not (doc(documents.USERS, B) or {}).get("registered")
    [record] = consent_records(B)
    assert (record["status"], record["channel"], record["price"], record["period"]) == ("pending", "sms", 300_000,
                                                                                       "month")
    assert record["shown"] == texts.render(ask["template"], "ru", **ask["params"])
    assert record["shown"].startswith("Голосовой ящик стоит 3 000 ") and "ответьте ДА на 06001" in record["shown"]
    assert (record["request"]["text"], record["request"]["reference"]) == ("REG", "sms:SM-reg")


def test_yes_charges_once_and_keeps_the_consent_record_with_both_answers(firestore_clean):
    subscriber(B, "en", balance=5_000 * SOM)
    assert ask_to_register(B, "sms:SM-reg") == "processed"
    assert reply(B, "yes", "sms:SM-yes") == "processed"
    assert reply(B, "yes", "sms:SM-yes") == "duplicate"
    assert balance(B) == 2_000 * SOM and doc(documents.USERS, B)["registered"]
    assert ledger.check(store.db(), B) == []
    [charged] = outbox(missed_calls.on_options_changed, "sms:SM-yes")
    assert charged["template"] == "missed_calls.options.registered_charged"
    [record] = consent_records(B)
    assert record["status"] == "confirmed" and record["decided_at"]
    assert (record["request"]["text"], record["request"]["reference"]) == ("REG", "sms:SM-reg")
    assert (record["confirmation"]["text"], record["confirmation"]["reference"]) == ("yes", "sms:SM-yes")
    assert doc(consent.PENDING, f"missed_calls.mailbox:{B}") is None

    assert reply(B, "YES", "sms:SM-yes-again") == "processed"     # nothing waits any more
    [answer] = outbox(missed_calls.on_options_changed, "sms:SM-yes-again")
    assert answer["template"] == "missed_calls.options.registered" and balance(B) == 2_000 * SOM


def test_no_declines_and_charges_nothing(firestore_clean):
    subscriber(B, "en", balance=5_000 * SOM)
    assert ask_to_register(B, "sms:SM-reg") == "processed"
    assert reply(B, "NO", "sms:SM-no", accepted=False) == "processed"
    assert balance(B) == 5_000 * SOM and not (doc(documents.USERS, B) or {}).get("registered")
    assert outbox(missed_calls.on_options_changed, "sms:SM-no")[0]["template"] == \
        "missed_calls.options.register_declined"
    [record] = consent_records(B)
    assert (record["status"], record["confirmation"]["text"]) == ("declined", "NO")


def test_a_yes_after_the_window_charges_nothing_and_says_the_request_expired(firestore_clean):
    subscriber(B, "en", balance=5_000 * SOM)
    assert ask_to_register(B, "sms:SM-reg") == "processed"
    late = utcnow() + consent.SMS_REPLY_WINDOW + timedelta(seconds=1)
    assert reply(B, "YES", "sms:SM-late", at=late) == "processed"
    assert balance(B) == 5_000 * SOM and not (doc(documents.USERS, B) or {}).get("registered")
    assert outbox(missed_calls.on_options_changed, "sms:SM-late")[0]["template"] == \
        "missed_calls.options.register_expired"
    assert consent_records(B)[0]["status"] == "expired"


def test_a_yes_with_nothing_pending_is_told_so_and_charges_nothing(firestore_clean):
    subscriber(B, "en", balance=5_000 * SOM)
    assert reply(B, "YES", "sms:SM-yes") == "processed"
    assert outbox(missed_calls.on_options_changed, "sms:SM-yes")[0]["template"] == \
        "missed_calls.options.nothing_to_confirm"
    assert balance(B) == 5_000 * SOM and consent_records(B) == []


def test_a_second_reg_replaces_the_waiting_question_and_yes_answers_the_newer_one(firestore_clean):
    subscriber(B, "en", balance=5_000 * SOM)
    assert ask_to_register(B, "sms:SM-reg-1") == "processed"
    assert ask_to_register(B, "sms:SM-reg-2") == "processed"
    assert reply(B, "YES", "sms:SM-yes") == "processed"
    first, second = consent_records(B)
    assert (first["status"], second["status"]) == ("replaced", "confirmed")
    assert balance(B) == 2_000 * SOM


@pytest.mark.parametrize("accepted, charged", [(True, 3_000 * SOM), (False, 0)])
def test_a_ussd_sign_up_carries_its_consent_and_only_a_confirmed_one_charges(firestore_clean, accepted, charged):
    subscriber(B, "en", balance=5_000 * SOM)
    now = utcnow()
    record = consent.given(offer="missed_calls.mailbox", msisdn=B, channel="ussd", language="en", shown="Voice mailbox…",
                           price=3_000 * SOM, currency="UZS", period="month",
                           request=consent.Answer(text="2", reference="ussd:AT1", at=now),
                           confirmation=consent.Answer(text="1" if accepted else "2", reference="ussd:AT1", at=now),
                           accepted=accepted)
    assert options(B, "register", "ussd:AT1", consent=record.model_dump(mode="json")) == "processed"
    assert balance(B) == 5_000 * SOM - charged
    assert bool(outbox(missed_calls.on_options_changed, "ussd:AT1")) == accepted   # the screen told a decline
    [stored] = consent_records(B)
    assert stored["status"] == ("confirmed" if accepted else "declined") and stored["shown"] == "Voice mailbox…"


# --- the voicemail PIN ------------------------------------------------------------------------

def keyed(msisdn: str, call_sid: str, attempt: int, right: bool, locked: bool = False) -> str:
    event_id = f"{call_sid}-pin-{attempt}"
    return deliver(missed_calls.on_voicemail_pin, {"request_id": event_id, "msisdn": msisdn, "call_sid": call_sid,
                                                   "attempt": attempt, "right": right, "locked": locked,
                                                   "at": utcnow().isoformat()}, event_id)


def set_pin(msisdn: str, digits: str, request_id: str) -> str:
    return options(msisdn, "pin_set", request_id, pin=pin.hashed(digits).model_dump())


def test_wrong_pins_in_a_row_lock_the_mailbox_and_tell_the_owner_and_a_new_pin_unlocks_it(away):
    assert register(B, "opt-reg") == "processed"
    assert set_pin(B, "4821", "pin-1") == "processed"
    stored = doc(documents.USERS, B)["voicemail_pin"]
    assert pin.matches("4821", stored) and "4821" not in str(stored)
    limit = 5
    for attempt in range(1, limit):
        assert keyed(B, f"CAspoof{attempt}", 1, right=False) == "processed"
    assert not doc(documents.USERS, B).get("voicemail_locked_at")
    assert keyed(B, "CAspoof-last", 1, right=False, locked=True) == "processed"   # the line's last try
    user = doc(documents.USERS, B)
    assert user["voicemail_locked_at"] and len(user["voicemail_pin_failures"]) == limit
    [told] = outbox(missed_calls.on_voicemail_pin, "CAspoof-last-pin-1")
    assert (told["to"], told["template"], told["params"]["count"]) == (B, "missed_calls.voicemail.locked", limit)
    assert keyed(B, "CAowner", 1, right=True) == "processed"           # the right PIN does not unlock
    assert doc(documents.USERS, B)["voicemail_locked_at"]

    assert set_pin(B, "7305", "pin-2") == "processed"
    user = doc(documents.USERS, B)
    assert user["voicemail_locked_at"] is None and user["voicemail_pin_failures"] == []
    assert outbox(missed_calls.on_options_changed, "pin-2")[0]["template"] == "missed_calls.options.pin_set"


def test_a_right_pin_clears_the_wrong_ones_before_it(away):
    assert register(B, "opt-reg") == "processed"
    assert set_pin(B, "4821", "pin-1") == "processed"
    for attempt in (1, 2):
        assert keyed(B, "CAmine", attempt, right=False) == "processed"
    assert keyed(B, "CAmine", 3, right=True) == "processed"
    assert doc(documents.USERS, B)["voicemail_pin_failures"] == []


def test_skipping_the_pin_on_ones_own_phone_needs_a_pin_first(away):
    assert options(B, "pin_skip_on", "skip-1") == "processed"
    assert outbox(missed_calls.on_options_changed, "skip-1")[0]["template"] == "missed_calls.options.pin_needed"
    assert set_pin(B, "4821", "pin-1") == "processed"
    assert options(B, "pin_skip_on", "skip-2") == "processed"
    assert doc(documents.USERS, B)["voicemail_trust_own_phone"] is True


# --- charging -------------------------------------------------------------------------------

def test_a_reminder_that_is_never_delivered_is_not_charged(away):
    before = balance(B)
    assert sms_final("msg-1", "undelivered", "final-1") == "processed"
    assert balance(B) == before
    charge = doc(documents.CHARGES, "msg-1")
    assert (charge["charged"], charge["why_not"], charge["amount"]) == (False, "not charged: undelivered", 0)


def test_a_duplicated_delivered_status_charges_once(away):
    before = balance(B)
    assert sms_final("msg-1", "delivered", "final-1") == "processed"
    assert sms_final("msg-1", "delivered", "final-1-again") == "processed"
    assert balance(B) == before - 50 * SOM
    assert ledger.check(store.db(), B) == []


def test_the_monthly_cap_stops_per_use_charges(away):
    before = balance(B)
    for n in range(101):  # 100 × 50 so'm reach the 5 000 so'm cap
        assert sms_final(f"msg-{n}", "delivered", f"final-{n}") == "processed"
    assert balance(B) == before - 5_000 * SOM
    last = doc(documents.CHARGES, "msg-100")
    assert (last["charged"], last["why_not"]) == (False, "not charged: monthly cap reached")


def test_a_balance_short_of_the_price_charges_nothing(firestore_clean):
    subscriber(B, "en", balance=49 * SOM)
    assert sms_final("msg-1", "delivered", "final-1") == "processed"
    assert balance(B) == 49 * SOM
    assert doc(documents.CHARGES, "msg-1")["why_not"] == "not charged: insufficient balance"


def test_another_service_s_final_sms_is_ignored(away):
    assert sms_final("msg-1", "delivered", "final-1", billing="zero-balance/callback") == "processed"
    assert doc(documents.CHARGES, "msg-1") is None


# --- housekeeping ---------------------------------------------------------------------------

def test_calls_older_than_retention_are_summarised_then_told_in_one_sms_on_attach(away):
    long_ago = utcnow() - timedelta(hours=80)
    assert missed_call("CA-old-1", caller=A, at=long_ago, choice="leave_number") == "processed"
    assert missed_call("CA-old-2", caller=C, at=long_ago + timedelta(minutes=3)) == "processed"
    assert missed_call("CA-new", caller=A, choice="leave_number") == "processed"

    tick = {"at": utcnow().isoformat()}
    assert deliver(missed_calls.on_housekeeping_tick, tick, "tick-1") == "processed"
    [due] = outbox(missed_calls.on_housekeeping_tick, "tick-1", "missed-call.due")
    assert (due["msisdn"], due["work"]) == (B, "calls")
    assert deliver(missed_calls.on_housekeeping_due, due, "due-1") == "processed"
    assert doc(documents.MISSED_CALLS, "CA-old-1")["status"] == "summarised"
    assert doc(documents.MISSED_CALLS, "CA-new")["status"] == "pending"

    assert network(B, "attached", utcnow(), "hlr-back") == "processed"
    sent = outbox(missed_calls.on_attachment, "hlr-back")
    assert [m["template"] for m in sent] == ["missed_calls.reminder.leave_number", "missed_calls.summary"]
    assert (sent[0]["params"]["count"], sent[1]["params"]["count"], sent[1]["params"]["callers"]) == (1, 2, 2)
    assert doc(documents.SUMMARIES, B) is None


def test_an_expired_voice_message_is_deleted_with_its_recording_by_the_clock(away, recordings):
    assert register(B, "opt-reg") == "processed"
    assert missed_call("CA1", choice="voicemail", recording_sid="RE1") == "processed"
    store.db().collection(documents.VOICEMAILS).document("CA1").update(
        {"delete_after": utcnow() - timedelta(minutes=1)})
    assert deliver(missed_calls.on_housekeeping_tick, {"at": utcnow().isoformat()}, "tick-1") == "processed"
    [due] = [d for d in outbox(missed_calls.on_housekeeping_tick, "tick-1", "missed-call.due")
             if d["work"] == "voicemail"]
    assert deliver(missed_calls.on_housekeeping_due, due, "due-vm") == "processed"
    assert doc(documents.VOICEMAILS, "CA1")["deleted_by"] == "retention" and recordings == ["RE1"]


def test_a_new_month_charges_the_mailbox_fee_once_or_the_mailbox_lapses(away):
    assert register(B, "opt-reg") == "processed"
    after_registering = balance(B)
    due = month_turned(B)
    assert deliver(missed_calls.on_housekeeping_due, due, "fee-1") == "processed"
    assert deliver(missed_calls.on_housekeeping_due, due, "fee-2") == "processed"  # not due any more
    assert balance(B) == after_registering - 3_000 * SOM
    assert [m["template"] for m in outbox(missed_calls.on_housekeeping_due, "fee-1")] == ["missed_calls.fee.charged"]
    assert outbox(missed_calls.on_housekeeping_due, "fee-2") == []


def test_a_monthly_fee_the_balance_cannot_pay_lapses_the_mailbox_and_charges_nothing(firestore_clean):
    subscriber(B, "en", balance=3_100 * SOM)
    assert register(B, "opt-reg") == "processed"
    assert balance(B) == 100 * SOM

    assert deliver(missed_calls.on_housekeeping_due, month_turned(B), "fee-short") == "processed"
    assert balance(B) == 100 * SOM
    user = doc(documents.USERS, B)
    assert (user["registered"], user["fee_due_at"]) == (False, None) and user["lapsed_at"]
    [told] = outbox(missed_calls.on_housekeeping_due, "fee-short")
    assert (told["to"], told["template"]) == (B, "missed_calls.fee.lapsed")
    assert told["params"] == {"fee": "3 000 so'm", "balance": "100 so'm"}
    assert ledger.check(store.db(), B) == []


def test_no_monthly_fee_while_the_line_is_blocked_and_the_mailbox_is_kept(away):
    assert register(B, "opt-reg") == "processed"
    after_registering = balance(B)
    store.db().collection(store.SUBSCRIBERS).document(B).update({"status": "blocked"})

    assert deliver(missed_calls.on_housekeeping_due, month_turned(B), "fee-blocked") == "processed"
    assert balance(B) == after_registering
    assert outbox(missed_calls.on_housekeeping_due, "fee-blocked") == []
    user = doc(documents.USERS, B)
    assert user["registered"] and user["fee_due_at"] > utcnow(), "looked at again next month"


# --- the operator's view --------------------------------------------------------------------

def test_the_operator_cli_shows_options_pending_calls_voice_messages_and_charges(away, capsys):
    from functions.missed_calls.__main__ import main as cli

    assert register(B, "opt-reg") == "processed"
    assert missed_call("CA1", choice="voicemail", recording_sid="RE1") == "processed"
    assert missed_call("CA2", caller=C, choice="leave_number") == "processed"
    assert sms_final("msg-1", "delivered", "final-1") == "processed"
    assert sms_final("msg-2", "undelivered", "final-2") == "processed"

    assert cli(["show", B]) == 0
    shown = capsys.readouterr().out
    assert "registered           True" in shown and "pending calls: 2" in shown and "voice messages: 1" in shown
    assert "mailbox PIN          none; own phone without PIN: False; wrong in a row: 0; locked: None" in shown
    assert "charges in" in shown and "charged 50 so'm (5000)" in shown and "not charged: undelivered" in shown
    assert cli(["charges", "998901234568"]) == 0
    assert "charges: 2" in capsys.readouterr().out


def test_push_deliveries_through_functions_framework_record_a_call_and_tell_it_on_attach(away, pubsub_push):
    def push(target, topic, payload, event_id):
        return pubsub_push(missed_calls.__file__, target, topic, payload, event_id)

    recorded = {"call_sid": "CA-push", "caller": A, "callee": B, "reason": "unreachable",
                "called_at": utcnow().isoformat(), "choice": "other_number", "other_number": C, "final": True}
    assert push("on_missed_call", "missed-call.recorded", recorded, "push-call").status_code == 200
    attach = {"msisdn": B, "state": "attached", "at": utcnow().isoformat()}
    assert push("on_attachment", "network.attachment", attach, "push-attach").status_code == 200
    [reminder] = outbox(missed_calls.on_attachment, "push-attach")
    assert (reminder["template"], reminder["params"]["number"]) == ("missed_calls.reminder.other_number", C)


def test_a_capped_attach_leaves_the_rest_pending_for_the_next_housekeeping_pass(away, monkeypatch):
    real = missed_calls.PRESETS.for_profile
    monkeypatch.setattr(missed_calls.PRESETS, "for_profile",
                        lambda profile: real(profile).model_copy(update={"max_calls_per_attach": 10}))
    callers = [f"+9989012346{n:02d}" for n in range(11)]
    start = utcnow() - timedelta(minutes=40)
    for n, caller in enumerate(callers):
        assert missed_call(f"CA{n}", caller=caller, at=start + timedelta(minutes=n), choice="leave_number") == \
            "processed"

    assert network(B, "attached", utcnow(), "hlr-back") == "processed"
    assert [m["params"]["caller"] for m in outbox(missed_calls.on_attachment, "hlr-back")] == callers[:10]
    assert doc(documents.MISSED_CALLS, "CA10")["status"] == "pending"

    assert deliver(missed_calls.on_housekeeping_tick, {"at": utcnow().isoformat()}, "tick-1") == "processed"
    [due] = [d for d in outbox(missed_calls.on_housekeeping_tick, "tick-1", "missed-call.due") if d["work"] == "calls"]
    assert deliver(missed_calls.on_housekeeping_due, due, "due-1") == "processed"
    [last] = outbox(missed_calls.on_housekeeping_due, "due-1")
    assert last["params"]["caller"] == callers[10]
    assert len(doc(documents.NOTICES, B)["calls"]) == 11  # the D query sees the whole attach
    assert doc(documents.USERS, B)["due_at"] is None


# --- one callee's publications from several callers, in the orders concurrent pushes give ----

def hlr(msisdn: str, state: str, at, event_id: str) -> str:
    """The HLR's report as provisioning takes it in (its own subscription, apart from this service's)."""
    return deliver(provisioning.on_network_attachment, {"msisdn": msisdn, "state": state, "at": at.isoformat()},
                   event_id)


def told_to(callee: str) -> list[dict]:
    """Every SMS any missed-call consumer asked for, to `callee`."""
    markers = store.db().collection(store.PROCESSED).stream()
    return [item["data"] for marker in markers if (marker.to_dict() or {}).get("consumer", "").startswith("missed")
            for item in marker.get("outbox") or [] if item["type"] == "sms.send" and item["data"]["to"] == callee]


def d_counts(callee: str) -> dict[str, int]:
    """Per caller, the count a D reply tells (the attach notice)."""
    return {c["caller"]: c["count"] for c in (doc(documents.NOTICES, callee) or {}).get("calls", [])}


def test_a_key_consumed_between_the_hlr_s_attach_and_the_service_s_is_one_sms_per_caller_with_the_right_counts(
        away):
    # A called three times (two hang-ups, then key 2), C once (key 3). The hang-ups are in; the HLR's
    # attach reaches provisioning, then A's key, then this service's attach, then C's key.
    now = utcnow()
    for n in (1, 2):
        assert missed_call(f"CA{n}", caller=A, at=now - timedelta(seconds=30 - n), final=False,
                           hung_up=True) == "processed"
    assert missed_call("CA3", caller=A, at=now - timedelta(seconds=20), final=False, hung_up=True) == "processed"
    assert missed_call("CA4", caller=C, at=now - timedelta(seconds=10), final=False, hung_up=True) == "processed"
    assert hlr(B, "attached", now, "hlr-back-provisioning") == "processed"
    assert missed_call("CA3", caller=A, at=now - timedelta(seconds=20), choice="leave_number") == "processed"
    assert network(B, "attached", now, "hlr-back") == "processed"
    assert missed_call("CA4", caller=C, at=now - timedelta(seconds=10), choice="other_number",
                       other_number=A) == "processed"

    about_a = [m for m in told_to(B) if m["params"].get("caller") == A]
    assert [(m["template"], m["params"]["count"]) for m in about_a] == [("missed_calls.reminder.leave_number", 3)]
    assert d_counts(B) == {A: 3, C: 1}
    assert {doc(documents.MISSED_CALLS, f"CA{n}")["status"] for n in range(1, 5)} == {"notified"}


def test_one_callee_s_publications_from_several_callers_delivered_at_once_count_each_call_once(away):
    from concurrent.futures import ThreadPoolExecutor

    now = utcnow()
    calls = {"CA1": (A, "leave_number"), "CA2": (A, "none"), "CA3": (C, "voicemail"), "CA4": (C, "notify_me"),
             "CA5": ("+998901234570", "other_number")}
    publications = [(sid, caller, dict(final=False, hung_up=True), choice)
                    for sid, (caller, choice) in calls.items()]
    keys = [(sid, caller, dict(choice=choice, final=True, other_number=A if choice == "other_number" else None),
             choice) for sid, (caller, choice) in calls.items() if choice != "none"]
    at = {sid: now - timedelta(seconds=30 - n) for n, sid in enumerate(calls)}

    def publish(item) -> str:
        sid, caller, fields, _ = item
        return missed_call(sid, caller=caller, at=at[sid], **fields)

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(publish, publications)) == {"processed"}
        both = [pool.submit(hlr, B, "attached", now, "hlr-provisioning"),
                pool.submit(network, B, "attached", now, "hlr-back"),
                *(pool.submit(publish, key) for key in keys)]
        assert {future.result() for future in both} == {"processed"}

    assert d_counts(B) == {A: 2, C: 2, "+998901234570": 1}
    assert [sms["template"] for sms in told_to(C)] == ["missed_calls.available"], "C pressed 4: told once"
    assert {doc(documents.MISSED_CALLS, sid)["status"] for sid in calls} == {"notified"}
    for sms in told_to(B):
        if "caller" in sms["params"]:
            assert sms["params"]["count"] <= sum(1 for caller, _ in calls.values() if caller == sms["params"]["caller"])


# --- a key 4 consumed after the attach told its call -------------------------------------------

def reminders_to(callee: str) -> list[str]:
    """The templates of the SMS told to `callee` about their calls (the fixture's activation notice left out)."""
    return [m["template"] for m in told_to(callee) if m["template"] != "missed_calls.activation"]


def test_a_key_4_consumed_after_the_attach_told_its_call_tells_the_caller_once_and_the_callee_nothing_more(away):
    now = utcnow()
    assert missed_call("CA1", at=now - timedelta(seconds=20), final=False, hung_up=True) == "processed"
    assert network(B, "attached", now, "hlr-back") == "processed"
    assert reminders_to(B) == ["missed_calls.reminder.short_notice"]
    assert told_to(A) == []

    assert deliver(missed_calls.on_missed_call, {"call_sid": "CA1", "caller": A, "callee": B, "reason": "unreachable",
                                                 "called_at": (now - timedelta(seconds=20)).isoformat(),
                                                 "choice": "notify_me", "final": True, "language": "ru"},
                   "CA1-key-4") == "processed"
    [available] = outbox(missed_calls.on_missed_call, "CA1-key-4")
    assert (available["to"], available["template"], available["language"], available["billing"]) == \
        (A, "missed_calls.available", "ru", documents.BILL_AVAILABILITY)
    assert available["params"]["callee"] == B
    stored = doc(documents.MISSED_CALLS, "CA1")
    assert (stored["status"], stored["choice"], stored["availability"]) == ("notified", "notify_me", "sent")
    # The edge publishing the key again, or the hang-up arriving again, tells nobody anything more.
    assert missed_call("CA1", at=now - timedelta(seconds=20), choice="notify_me") == "processed"
    assert missed_call("CA1", at=now - timedelta(seconds=20), final=False, hung_up=True) == "processed"
    assert [m["template"] for m in told_to(A)] == ["missed_calls.available"]
    assert reminders_to(B) == ["missed_calls.reminder.short_notice"]
    assert d_counts(B) == {A: 1}


def test_a_late_key_4_respects_the_callee_s_privacy(away):
    assert options(B, "privacy_on", "opt-privacy") == "processed"
    now = utcnow()
    assert missed_call("CA1", at=now - timedelta(seconds=20), final=False, hung_up=True) == "processed"
    assert network(B, "attached", now, "hlr-back") == "processed"
    assert missed_call("CA1", at=now - timedelta(seconds=20), choice="notify_me") == "processed"
    assert told_to(A) == []
    assert doc(documents.MISSED_CALLS, "CA1")["availability"] == "withheld_privacy"


def test_a_key_4_consumed_between_the_hlr_s_attach_and_the_service_s_tells_the_caller_once(away):
    now = utcnow()
    assert missed_call("CA1", at=now - timedelta(seconds=20), final=False, hung_up=True) == "processed"
    assert hlr(B, "attached", now, "hlr-back-provisioning") == "processed"
    assert missed_call("CA1", at=now - timedelta(seconds=20), choice="notify_me") == "processed"
    assert network(B, "attached", now, "hlr-back") == "processed"
    assert [m["template"] for m in told_to(A)] == ["missed_calls.available"]
    assert reminders_to(B) == ["missed_calls.reminder.short_notice"]
    assert doc(documents.MISSED_CALLS, "CA1")["availability"] == "sent"


# --- an attach and a call recorded at the same moment ------------------------------------------

def test_a_phone_switched_off_before_its_first_call_has_its_pending_calls_listed_and_told_once(firestore_clean):
    # The detach creates the callee's document before any call (a phone off when provisioned): the document starts
    # the list, so the attach reads the calls by reference instead of querying in its transaction.
    subscriber(A, "en", balance=10_000 * SOM)
    subscriber(B, "en", balance=10_000 * SOM)
    now = utcnow()
    assert network(B, "detached", now - timedelta(hours=1), "hlr-b-off") == "processed"
    assert doc(documents.USERS, B)["pending_calls"] == []
    assert missed_call("CA1", caller=A, at=now - timedelta(minutes=30), choice="leave_number") == "processed"
    assert missed_call("CA2", caller=C, at=now - timedelta(minutes=20), choice="leave_number") == "processed"
    assert doc(documents.USERS, B)["pending_calls"] == ["CA1", "CA2"]

    assert network(B, "attached", now, "hlr-b-on") == "processed"
    assert {doc(documents.MISSED_CALLS, sid)["status"] for sid in ("CA1", "CA2")} == {"notified"}
    assert sorted(m["params"]["caller"] for m in told_to(B) if "caller" in m["params"]) == sorted([A, C])
    assert doc(documents.USERS, B)["pending_calls"] == []


@pytest.mark.parametrize("kept", [True, False], ids=["pending calls kept", "older user document"])
def test_a_call_recorded_while_the_attach_is_in_its_transaction_is_told_once_by_one_of_them(away, monkeypatch, kept):
    # The attach finds the pending calls in the user document (or, in one older than that field, by a query in its
    # transaction); a call recorded right after must not stay pending: the record writes the callee's user document
    # the attach read (or a call the query covers), so Firestore serialises the two (the record waits, then sees the
    # callee back and tells its call itself).
    import threading

    from google.cloud import firestore

    from functions.missed_calls import queries

    now = utcnow()
    assert missed_call("CA1", caller=A, at=now - timedelta(minutes=30), choice="leave_number") == "processed"
    # A detach reported after CA2 was made: CA2's record changes no field of the user document (its detach is
    # older, its retention later than CA1's), so only the rule itself writes that document.
    assert network(B, "detached", now - timedelta(minutes=20), "hlr-b-3") == "processed"
    assert doc(documents.USERS, B)["pending_calls"] == ["CA1"]
    if not kept:
        store.db().collection(documents.USERS).document(B).update({"pending_calls": firestore.DELETE_FIELD})
    found_by_query = queries.pending_calls
    recorded: list[str] = []

    def record_right_after_the_query(ctx, callee, limit, listed):
        calls = found_by_query(ctx, callee, limit, listed)
        if not recorded and ctx.consumer == missed_calls.on_attachment.consumer:
            recording = threading.Thread(target=lambda: recorded.append(
                missed_call("CA2", caller=C, at=now - timedelta(minutes=25), choice="leave_number")))
            recording.start()
            recording.join(timeout=3)  # it waits for this transaction when serialised; else it is in by now
            recorded.append("attach went on")
        return calls

    monkeypatch.setattr(queries, "pending_calls", record_right_after_the_query)
    assert network(B, "attached", now, "hlr-back") == "processed"
    for _ in range(300):
        if "processed" in recorded:
            break
        time.sleep(0.1)

    assert "processed" in recorded
    assert {doc(documents.MISSED_CALLS, sid)["status"] for sid in ("CA1", "CA2")} == {"notified"}
    assert sorted(m["params"]["caller"] for m in told_to(B) if "caller" in m["params"]) == sorted([A, C])
    assert doc(documents.USERS, B)["pending_calls"] == []


def test_fifty_reminders_of_one_callee_pushed_at_once_are_each_charged_once(away, function_server, push_subscriptions):
    # sms.final is ordered by the payer: one callee's charges, each a transaction on its one account, run in turn
    # instead of aborting each other on the emulator's lock timeout until they are dead-lettered.
    charge = function_server("missed-calls-charge")
    push_subscriptions({"missed-calls-charge": charge.ready_url}, max_backoff_seconds=1)
    before, count = balance(B), 50
    for n in range(count):
        runtime.publish_new("sms.final", {"message_id": f"SM{n:03d}", "to": B, "status": "delivered",
                                          "billing": documents.BILL_REMINDER, "reference": "r", "template": "t",
                                          "segments": 1, "at": utcnow().isoformat()}, event_id=f"final-{n}")
    charges = store.db().collection(documents.CHARGES).where(filter=FieldFilter("payer", "==", B))
    deadline = time.monotonic() + 120
    while len(list(charges.stream())) < count and time.monotonic() < deadline:
        time.sleep(0.5)

    records = [c.to_dict() for c in charges.stream()]
    assert sorted(r["message_id"] for r in records) == [f"SM{n:03d}" for n in range(count)]
    assert all(r["charged"] and r["amount"] == 50 * SOM for r in records)
    assert balance(B) == before - count * 50 * SOM
    assert not list(store.db().collection(store.DEAD_LETTERS).stream())
