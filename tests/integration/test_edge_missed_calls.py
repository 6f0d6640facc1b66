"""Missed-call alerts through the edge webhooks on the real Firestore and Pub/Sub emulators: a forwarded
call publishes `missed-call.recorded` as the caller goes through the IVR, the voicemail line plays what
Firestore holds and publishes what the callee did, D answers within and after the window, options go
out as `missed-call.options-changed` by SMS and USSD, and an outage is answered, never a 500."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

from hypothesis import given, settings as hsettings, strategies as st

from functions.edge import lookup
from functions.missed_calls import edge_voicemail as voicemail_line
from functions.missed_calls import documents, pin
from functions.missed_calls import main as missed_calls
from functions.missed_calls.config import config_for
from shared import operator, store
from shared.events import utcnow
from tests.integration.test_edge import FUZZ, dial, edge, provision, twilio_post  # noqa: F401 - fixture
from tests.integration.test_edge_transfers import signed_call
from tests.integration.test_missed_calls import deliver, outbox
from tests.unit.test_edge_missed_call_options import recovered_pins

CALLER, CALLEE, OTHER = "+998901234567", "+998971300909", "+998911112233"
PLATFORM = "+998712000000"   # the number the switch forwards to


def forwarded(app, sid: str, *, query=None, reason=None, **form):
    """One signed request of a forwarded call (the first carries ForwardedFrom, later ones their step)."""
    base = {"CallSid": sid, "From": CALLER, "To": PLATFORM}
    if not query:
        base["ForwardedFrom"] = CALLEE
    if reason:
        base["ForwardReason"] = reason
    response = signed_call(app, query or {}, {**base, **form})
    assert response.status_code == 200
    return response.data.decode()


def action(twiml: str, verb: str = "Gather") -> dict:
    return dict(parse_qsl(ET.fromstring(twiml).find(verb).get("action").lstrip("?")))


def said(twiml: str) -> str:
    return " ".join(e.text for e in ET.fromstring(twiml).iter("Say"))


def users(msisdn: str, **options) -> None:
    store.db().collection(documents.USERS).document(msisdn).set(options)


def firestore_down(monkeypatch, module, reader: str) -> None:
    """`module.reader` times out as Firestore does in an outage; the webhook must still answer."""
    def outage(*args, **kwargs):
        raise TimeoutError("Firestore unavailable")

    monkeypatch.setattr(module, reader, outage)


# --- the caller IVR ------------------------------------------------------------------------

def test_a_caller_who_leaves_another_number_publishes_the_whole_journey(edge, tap):
    provision(CALLER, "en")
    provision(CALLEE, "ru")
    users(CALLEE, registered=True)
    pull = tap("missed-call.recorded")
    app = edge("voice_inbound")
    menu = forwarded(app, "CAmc1001")
    assert "Press 1 to leave a voice message." in said(menu)
    asked = forwarded(app, "CAmc1001", query=action(menu), Digits="3")
    done = forwarded(app, "CAmc1001", query=action(asked), Digits="911112233")
    assert "asked to call 9 9 8 9 1 1 1 1 2 2 3 3" in said(done)
    offered, chosen = sorted(pull(2), key=lambda e: e.data["final"])
    assert (offered.data["choice"], offered.data["final"]) == ("none", False)
    fields = ("caller", "callee", "reason", "choice", "other_number", "language", "final")
    assert {k: chosen.data[k] for k in fields} == {"caller": CALLER, "callee": CALLEE, "reason": "unknown",
                                                   "choice": "other_number", "other_number": OTHER,
                                                   "language": "en", "final": True}
    assert chosen.data["called_at"] == offered.data["called_at"]
    forwarded(app, "CAmc1001", query=action(asked), Digits="911112233")     # Twilio retries the step
    [again] = pull(1)
    assert again.id == chosen.id


def test_a_voice_message_is_published_with_its_recording(edge, tap):
    provision(CALLER, "ru")
    provision(CALLEE, "en")
    users(CALLEE, registered=True)
    pull = tap("missed-call.recorded")
    app = edge("voice_inbound")
    recording = forwarded(app, "CAmc1002", query=action(forwarded(app, "CAmc1002")), Digits="1")
    assert "Оставьте сообщение после сигнала." in said(recording)
    thanks = forwarded(app, "CAmc1002", query=action(recording, "Record"), RecordingSid="RE1002",
                       RecordingUrl="https://api.twilio.com/recordings/RE1002", RecordingDuration="14")
    assert "<Hangup" in thanks
    final = next(e for e in pull(2) if e.data["final"])
    assert [final.data[k] for k in ("choice", "recording_sid", "recording_seconds", "language")] == \
        ["voicemail", "RE1002", 14, "ru"]


def test_a_busy_forward_is_recorded_as_a_reminder_and_a_stranger_callee_publishes_nothing(edge, tap):
    provision(CALLER, "en")
    provision(CALLEE, "en")
    pull = tap("missed-call.recorded")
    app = edge("voice_inbound")
    busy = forwarded(app, "CAmc1003", reason="busy")
    assert said(busy) == "The subscriber you dialled is busy. They will get an SMS saying that you called. Goodbye."
    stranger = signed_call(app, {}, {"CallSid": "CAmc1004", "From": CALLER, "To": PLATFORM,
                                     "ForwardedFrom": "+998935550000"}).data.decode()
    assert said(stranger) == "The subscriber you dialled cannot be reached. Please call again later. Goodbye."
    received = pull.rest()
    assert [(e.data["call_sid"], e.data["reason"], e.data["final"]) for e in received] == [("CAmc1003", "busy", True)]


def test_a_caller_who_hangs_up_in_the_menu_is_reported_through_the_status_callback(edge, tap):
    provision(CALLER, "en")
    provision(CALLEE, "en")
    pull = tap("missed-call.recorded")
    app = edge("voice_inbound")
    forwarded(app, "CAmc1005")
    ended = signed_call(app, {"callback": "status"}, {"CallSid": "CAmc1005", "From": CALLER, "To": PLATFORM,
                                                      "ForwardedFrom": CALLEE, "CallStatus": "completed",
                                                      "CallDuration": "7"})
    assert ended.status_code == 204
    offered, end = sorted(pull(2), key=lambda e: e.data["hung_up"])
    assert (end.data["call_sid"], end.data["choice"], end.data["hung_up"], end.data["final"]) == \
        ("CAmc1005", "none", True, False)
    gap = datetime.fromisoformat(offered.data["called_at"]) - datetime.fromisoformat(end.data["called_at"])
    assert abs(gap) < timedelta(seconds=10)    # placed back at the call's start by CallDuration
    stranger = signed_call(app, {"callback": "status"}, {"CallSid": "CAmc1006", "From": CALLER, "To": PLATFORM,
                                                         "ForwardedFrom": "+998935550000", "CallStatus": "completed"})
    service_call = signed_call(app, {"callback": "status"}, {"CallSid": "CAmc1007", "From": CALLER, "To": "06002",
                                                             "CallStatus": "completed"})
    assert (stranger.status_code, service_call.status_code) == (204, 204)
    assert pull.rest() == []                    # neither a stranger's nor a service call's end publishes


def test_when_firestore_fails_the_forwarded_call_is_still_recorded(edge, tap, monkeypatch):
    pull = tap("missed-call.recorded")
    app = edge("voice_inbound")
    firestore_down(monkeypatch, lookup, "read_all")
    twiml = forwarded(app, "CAmc1005")
    assert "Abonent qo'ng'irog'ingiz haqida SMS oladi." in said(twiml)      # the operator's language
    [event] = pull(1)
    assert (event.data["call_sid"], event.data["final"]) == ("CAmc1005", True)


def test_an_unsigned_forwarded_call_is_refused(edge):
    form = {"CallSid": "CAmc1006", "From": CALLER, "To": PLATFORM, "ForwardedFrom": CALLEE}
    assert edge("voice_inbound").post("/", data=form).status_code == 403


# --- the voicemail line --------------------------------------------------------------------

def voicemail(sid: str, caller: str, recorded_at: datetime, **extra) -> None:
    store.db().collection(documents.VOICEMAILS).document(sid).set({
        "callee": CALLEE, "caller": caller, "recording_sid": f"RE{sid}", "recording_url": f"https://r/{sid}",
        "seconds": 10, "recorded_at": recorded_at, "heard_at": None,
        "delete_after": recorded_at + timedelta(days=7), "deleted": False, **extra})


MAILBOX_PIN = pin.hashed("4821").model_dump()


def test_the_voicemail_line_asks_the_pin_plays_the_mailbox_oldest_first_and_publishes_a_deletion(edge, tap):
    provision(CALLEE, "en")
    users(CALLEE, registered=True, voicemail_pin=MAILBOX_PIN)
    now = utcnow()
    voicemail("CAv2", OTHER, now - timedelta(minutes=5))
    voicemail("CAv1", CALLER, now - timedelta(hours=1))
    voicemail("CAv0", CALLER, now - timedelta(hours=2), deleted=True)
    store.db().collection(documents.VOICEMAILS).document("CAelse").set(
        {"callee": OTHER, "caller": CALLER, "recording_url": "https://r/else", "recorded_at": now, "deleted": False})
    pull = tap("missed-call.voicemail-played")
    pins = tap("missed-call.voicemail-pin")
    app = edge("voice_inbound")
    call = {"CallSid": "CAvm2001", "From": CALLEE, "To": "06002"}
    asked = signed_call(app, {}, call).data.decode()
    assert said(asked) == "Please enter your voice mailbox PIN, then press hash." and "<Play" not in asked
    first = signed_call(app, action(asked), {**call, "Digits": "4821"}).data.decode()
    assert said(first).startswith("Voice messages: 2. Message 1 of 2, from 9 9 8 9 0 1 2 3 4 5 6 7")
    [entered] = pins(1)
    assert (entered.data["msisdn"], entered.data["right"], entered.data["attempt"]) == (CALLEE, True, 1)
    assert [e.text for e in ET.fromstring(first).iter("Play")] == ["https://r/CAv1"]
    second = signed_call(app, action(first), {**call, "Digits": "7"}).data.decode()
    assert said(second).startswith("Message deleted. Message 1 of 1, from 9 9 8 9 1 1 1 1 2 2 3 3")
    [event] = pull(1)
    assert (event.data["msisdn"], event.data["call_sid"], event.data["action"]) == (CALLEE, "CAv1", "deleted")


def test_simultaneous_wrong_pins_get_no_more_tries_than_the_lock_allows_and_the_owner_is_told_once(
        edge, tap, monkeypatch):
    provision(CALLEE, "en")
    users(CALLEE, registered=True, voicemail_pin=MAILBOX_PIN)
    limit = config_for(operator.current()).voicemail.max_wrong_pins
    compared, counting, real_matches = [], threading.Lock(), pin.matches

    def counted_matches(typed, stored):
        with counting:
            compared.append(typed)
        return real_matches(typed, stored)

    monkeypatch.setattr(pin, "matches", counted_matches)
    pins = tap("missed-call.voicemail-pin")
    app = edge("voice_inbound")

    def key_pin(sid: str, digits: str) -> str:
        """One spoofed call's PIN step, keyed at once (the carrier places such calls freely)."""
        form = {"CallSid": sid, "From": CALLEE, "To": "06002", "Digits": digits}
        response = signed_call(app, {"step": "pin", "attempt": "1"}, form)
        assert response.status_code == 200
        return response.data.decode()

    calls = 4 * limit
    with ThreadPoolExecutor(max_workers=calls) as pool:
        answers = [said(twiml) for twiml in pool.map(lambda n: key_pin(f"CAguess{n:03d}", "1111"), range(calls))]
    wrong = [a for a in answers if a.startswith("That PIN is not right.")]
    locked = [a for a in answers if a.startswith("Your voice mailbox is locked")]
    assert len(compared) <= limit and len(wrong) < limit and len(wrong) + len(locked) == calls

    after = key_pin("CAowner", "4821")                     # the right PIN, before the service heard a thing
    assert said(after).startswith("Your voice mailbox is locked") and "<Play" not in after
    assert len(compared) <= limit

    entered = pins(len(compared))
    assert pins.rest() == []
    for event in entered:
        assert deliver(missed_calls.on_voicemail_pin, event.data, event.id) == "processed"
    told = [sms for event in entered for sms in outbox(missed_calls.on_voicemail_pin, event.id)]
    assert [(sms["to"], sms["template"]) for sms in told] == [(CALLEE, "missed_calls.voicemail.locked")]
    assert store.db().collection(documents.USERS).document(CALLEE).get().get("voicemail_locked_at")
    again = key_pin("CAowner2", "4821")
    assert said(again).startswith("Your voice mailbox is locked") and "<Play" not in again


def test_an_unregistered_caller_of_the_voicemail_line_is_told_how_to_register(edge):
    provision(CALLEE, "ru")
    twiml = signed_call(edge("voice_inbound"), {}, {"CallSid": "CAvm2002", "From": CALLEE, "To": "06002"}).data.decode()
    assert said(twiml) == ("У вас нет голосового ящика. Чтобы подключить его, отправьте РЕГ на номер 06001 "
                           "или наберите *160#. До свидания.")


def test_a_mailbox_query_that_fails_is_answered_try_later(edge, monkeypatch):
    provision(CALLEE, "en")
    users(CALLEE, registered=True, voicemail_pin=MAILBOX_PIN, voicemail_trust_own_phone=True)
    firestore_down(monkeypatch, voicemail_line, "stored_messages")
    response = signed_call(edge("voice_inbound"), {}, {"CallSid": "CAvm2003", "From": CALLEE, "To": "06002",
                                                       "StirVerstat": "TN-Validation-Passed-A"})
    assert response.status_code == 200
    assert said(response.data.decode()) == "Service temporarily unavailable. Please try again later."


# --- SMS to 06001 --------------------------------------------------------------------------

def notice(window_ends_at: datetime) -> None:
    store.db().collection(documents.NOTICES).document(CALLEE).set({
        "sent_at": window_ends_at - timedelta(hours=24), "window_ends_at": window_ends_at,
        "calls": [{"caller": CALLER, "count": 3, "first_at": datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc),
                   "last_at": datetime(2026, 3, 2, 6, 30, tzinfo=timezone.utc), "choice": "leave_number",
                   "other_number": None}]})


def text(app, sid: str, body: str, sender: str = CALLEE):
    response = twilio_post(app, {"MessageSid": sid, "From": sender, "To": "06001", "Body": body})
    assert response.status_code == 200
    return response


def test_d_within_the_window_sends_the_priced_details_and_after_it_a_free_answer(edge, tap):
    provision(CALLEE, "en")
    replies = tap("sms.send")
    app = edge("sms_inbound")
    notice(utcnow() + timedelta(hours=3))
    text(app, "SMd0001", "d")
    [details] = replies(1)
    assert (details.data["template"], details.data["billing"], details.data["sender"]) == \
        ("edge.missed_calls.sms.details", documents.BILL_DETAILS, "06001")
    assert details.data["params"]["lines"] == "+998901234567: 3 calls, 02/03/2026 09:00 to 02/03/2026 11:30"
    notice(utcnow() - timedelta(minutes=1))
    text(app, "SMd0002", "Д")
    [late] = replies(1)
    assert late.data["template"] == "edge.missed_calls.sms.window_passed" and late.data.get("billing") is None
    assert late.data["params"]["count"] == 3


def test_an_option_keyword_publishes_the_change_and_the_edge_sends_no_reply(edge, tap):
    provision(CALLEE, "ru")
    changes, replies = tap("missed-call.options-changed"), tap("sms.send")
    app = edge("sms_inbound")
    text(app, "SMo0001", "блок 90 123 45 67")
    text(app, "SMo0002", "блок 12")
    [change] = changes(1)
    assert (change.data["msisdn"], change.data["action"], change.data["number"], change.data["channel"]) == \
        (CALLEE, "blacklist_add", CALLER, "sms")
    [answer] = replies(1)      # only the bad number is answered by the edge
    assert answer.data["template"] == "edge.missed_calls.sms.invalid_number"
    assert changes.rest() == []


def everything_stored() -> str:
    """Every document in Firestore, as text."""
    db = store.db()
    return " ".join(f"{snapshot.reference.path} {snapshot.to_dict()}"
                    for collection in db.collections() for snapshot in collection.stream())


def test_a_pin_set_by_sms_leaves_no_digest_of_its_digits_in_what_is_published_or_stored(edge, tap):
    provision(CALLEE, "en")
    users(CALLEE, registered=True)
    changes, confirmations = tap("missed-call.options-changed"), tap("sms.send")
    app = edge("sms_inbound")
    text(app, "SMpin0001", "PIN 4821")
    [change] = changes(1)
    assert change.data["action"] == "pin_set"
    assert deliver(missed_calls.on_options_changed, change.data, change.id) == "processed"
    assert pin.matches("4821", store.db().collection(documents.USERS).document(CALLEE).get().get("voicemail_pin"))
    [confirmation] = confirmations(1)      # the service's, referring to the request id
    assert confirmation.data["template"] == "missed_calls.options.pin_set"
    published = f"{change.id} {change.data} {confirmation.id} {confirmation.data}"
    assert recovered_pins(f"{published} {everything_stored()}", CALLEE, "06001", "PIN {pin}") == []


def test_a_firestore_failure_on_the_short_code_answers_try_later(edge, tap, monkeypatch):
    replies = tap("sms.send")
    app = edge("sms_inbound")
    firestore_down(monkeypatch, lookup, "read_all")
    text(app, "SMo0003", "D")
    [answer] = replies(1)
    assert answer.data["template"] == "edge.unavailable" and answer.data.get("billing") is None


# --- the *160# menu ------------------------------------------------------------------------

def test_the_ussd_menu_publishes_a_validated_list_change(edge, tap):
    provision(CALLEE, "en")
    users(CALLEE, registered=True, blacklist=[OTHER])
    changes = tap("missed-call.options-changed")
    app = edge("ussd")
    root = dial(app, CALLEE, code="*160#").data.decode()
    assert root.startswith("CON Missed-call alerts\n1 Status\n2 Cancel the voice mailbox")
    assert dial(app, CALLEE, code="*160#", text="1").data.decode().startswith("END Missed-call alerts are on. "
                                                                              "Voice mailbox: on.")
    done = dial(app, CALLEE, code="*160#", text="5*911112233").data.decode()
    assert done == "END Request accepted, you will get an SMS."
    [change] = changes(1)
    assert (change.data["action"], change.data["number"], change.data["channel"]) == ("blacklist_remove", OTHER, "ussd")


# --- fuzzing the whole webhook -------------------------------------------------------------

@hsettings(**FUZZ)
@given(step=st.sampled_from([None, "menu", "recorded", "other_number", "played", "zzz"]),
       digits=st.text(max_size=16), forwarded_from=st.sampled_from([CALLEE, "971300909", "", "x", "+1"]),
       reason=st.text(max_size=12), called=st.sampled_from([PLATFORM, "06002", "0670"]))
def test_any_signed_forwarded_call_gets_twiml_never_a_5xx(edge, step, digits, forwarded_from, reason, called):
    provision(CALLEE, "zh")
    query = {"step": step, "callee": CALLEE, "lang": "zh", "keys": "234", "reason": "busy",
             "at": "1772442000000000", "msg": "CAx"} if step else {}
    response = signed_call(edge("voice_inbound"), query, {"CallSid": "CAfz", "From": CALLEE, "To": called,
                                                          "ForwardedFrom": forwarded_from, "Digits": digits,
                                                          "ForwardReason": reason})
    assert response.status_code == 200
    assert re.match(r'^<\?xml version="1.0" encoding="UTF-8"\?><Response>', response.data.decode())


@hsettings(**FUZZ)
@given(body=st.text(max_size=60))
def test_any_signed_sms_to_the_short_code_gets_twiml_never_a_5xx(edge, body):
    provision(CALLEE, "ky")
    response = twilio_post(edge("sms_inbound"), {"MessageSid": "SMfz", "From": CALLEE, "To": "06001", "Body": body})
    assert response.status_code == 200
    assert response.data.decode().startswith('<?xml version="1.0" encoding="UTF-8"?><Response')
