"""Balance transfers through the edge webhooks on the real Firestore and Pub/Sub emulators: `*112*`
answers at once and publishes `transfer.requested` (once per request: a gateway's retry is the same
event, another phone under the same session id is not), answered "being processed" until
transfers-execute decides, a refusal publishes nothing, the `#131#` menu publishes only after the confirmation, SMS to 21112 works the same, and the
0670 IVR publishes `voucher.redeem-requested`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from google.cloud import firestore
from twilio.request_validator import RequestValidator

from functions.transfers import main as transfers
from shared import ledger, signing, store
from shared.events import utcnow
from tests.integration.test_edge import SECRET, TOKEN, URL, edge, provision, twilio_post  # noqa: F401 - fixture
from tests.integration.test_transfers import deliver, sms_of

SENDER, RECIPIENT, OTHER = "+998901234567", "+998971300909", "+998911112233"


def dial(app, session: str, code: str, text: str = "", msisdn: str = SENDER) -> str:
    body = urlencode({"sessionId": session, "serviceCode": code, "phoneNumber": msisdn,
                      "networkCode": "43401", "text": text}).encode()
    response = app.post("/", data=body, content_type="application/x-www-form-urlencoded",
                        headers={signing.USSD_SIGNATURE_HEADER: signing.sign_body(SECRET, body)})
    assert response.status_code == 200
    return response.data.decode()


def parties(sender_language: str = "en", main: int = 5_000_000) -> None:
    provision(SENDER, sender_language, credits=[("main", main, None)])
    provision(RECIPIENT, "ru")


def test_an_accepted_transfer_publishes_one_request_and_a_double_tap_the_same_event(edge, tap):
    parties()
    pull = tap("transfer.requested")
    app = edge("ussd")
    screen = dial(app, "ATUid_t1", "*112#", "998971300909*2500")
    assert screen == ("END Your transfer of 2 500 so'm to +998971300909 is being processed. "
                      "If it is made, the fee will be 200 so'm. An SMS will tell you the result.")
    [event] = pull(1)
    assert event.type == "transfer.requested"
    assert {k: event.data[k] for k in ("sender", "recipient", "amount", "channel")} == \
        {"sender": SENDER, "recipient": RECIPIENT, "amount": 250_000, "channel": "ussd"}
    assert dial(app, "ATUid_t1", "*112#", "998971300909*2500") == screen
    [again] = pull(1)
    assert again.id == event.id


def executed(requests) -> list[dict]:
    """Each published transfer.requested delivered to transfers-execute, as its push subscription would."""
    assert [deliver(transfers.on_transfer_requested, e.data, e.id) for e in requests] == ["processed"] * len(requests)
    by_event = [firestore.FieldFilter("event_id", "==", e.id) for e in requests]
    return [store.db().collection("transfers").where(filter=made).get()[0].to_dict() for made in by_event]


def test_two_phones_under_one_reused_session_id_both_get_their_transfer(edge, tap):
    """A gateway that reset its session counter (or a second gateway) sends one sessionId for two subscribers."""
    parties()
    provision(OTHER, "en", credits=[("main", 5_000_000, None)])
    pull = tap("transfer.requested")
    app = edge("ussd")
    for phone, amount in ((SENDER, "2500"), (OTHER, "5000")):
        assert "is being processed" in dial(app, "ATUid_1", "*112#", f"998971300909*{amount}", msisdn=phone)
    requests = sorted(pull(2), key=lambda e: e.data["amount"])
    assert len({e.id for e in requests}) == 2, "the second request would be dropped as the first one's duplicate"
    made = executed(requests)
    assert [(r["sender"], r["amount"], r["status"]) for r in made] == \
        [(SENDER, 250_000, "accepted"), (OTHER, 500_000, "accepted")]
    assert made[0]["reference"] != made[1]["reference"]
    assert ledger.read_account(store.db(), RECIPIENT).balance("main") == 750_000
    for event, record in zip(requests, made):
        told = {(sms["to"], sms["template"], sms["params"]["reference"]) for sms in
                sms_of(transfers.on_transfer_requested, event.id)}
        assert (record["sender"], "transfer.sent", record["reference"]) in told
        assert (RECIPIENT, "transfer.received", record["reference"]) in told


def test_a_burst_the_rules_accept_but_the_recipients_limit_refuses_is_never_shown_accepted(edge, tap):
    """Both screens come from one read of the recipient's history; only the transaction sees the limit spent."""
    parties()
    provision(OTHER, "en", credits=[("main", 5_000_000, None)])
    store.db().collection("transfer_history").document(RECIPIENT).set(   # 95 000 of the 100 000 a day received
        {"sent": [], "received": [{"at": utcnow(), "amount": 9_500_000}]})
    pull = tap("transfer.requested")
    app = edge("ussd")
    screens = [dial(app, session, "*112#", "998971300909*5000", msisdn=phone)
               for session, phone in (("ATUid_burst1", SENDER), ("ATUid_burst2", OTHER))]
    expected = ("END Your transfer of 5 000 so'm to +998971300909 is being processed. "
                "If it is made, the fee will be 200 so'm. An SMS will tell you the result.")
    assert screens == [expected, expected]
    requests = pull(2)
    made = executed(requests)     # one after the other: the second transaction sees what the first committed
    assert [(r["status"], r["refusal_code"]) for r in made] == [("accepted", None), ("refused", "recipient_daily_limit")]
    [refusal] = sms_of(transfers.on_transfer_requested, requests[1].id)
    assert (refusal["to"], refusal["template"]) == (made[1]["sender"], "transfer.refused")
    assert refusal["params"]["reference"] == made[1]["reference"]


def test_a_refused_transfer_answers_the_reason_and_publishes_nothing(edge, tap):
    parties(sender_language="ru")
    pull = tap("transfer.requested")
    app = edge("ussd")
    refused = [dial(app, "ATUid_r1", "*112#", "998971300909*3000" + "*1" * page) for page in range(4)]
    assert refused[0].startswith("CON Перевод не выполнен.") and refused[0].endswith("\n1 Ещё")  # a long reason: paged
    whole = next(page for page in refused if page.startswith("END "))
    assert "2 500, 5 000, 10 000" in " ".join(refused[:refused.index(whole) + 1])
    dial(app, "ATUid_r2", "*112#", "998971300909*5000")       # accepted: the only request on the topic
    received = pull.rest()
    assert [e.data["request_id"].split(":")[:2] for e in received] == [["ussd", "ATUid_r2"]]


def test_the_daily_limit_counts_the_history_read_in_the_same_lookup(edge, tap):
    parties()
    now = utcnow()
    store.db().collection("transfer_history").document(SENDER).set(
        {"sent": [{"at": now - timedelta(minutes=m), "amount": 2_500_000} for m in (1, 2, 3, 4)], "received": []})
    screen = dial(edge("ussd"), "ATUid_l1", "*112#", "998971300909*2500")
    assert screen.startswith("END Transfer not made.")


def test_malformed_dialling_gets_the_syntax_in_the_subscribers_language(edge):
    parties(sender_language="uz")
    app = edge("ussd")
    assert dial(app, "ATUid_m1", "*112#", "abc").startswith("END Noto'g'ri so'rov. O'tkazma uchun *112*raqam*summa#")
    assert "butun son" in dial(app, "ATUid_m2", "*112#", "998971300909*2500.50")


def test_top_up_request_and_bar_are_published(edge, tap):
    parties()
    asked, barred = tap("transfer.topup-asked"), tap("transfer.bar-changed")
    app = edge("ussd")
    assert dial(app, "ATUid_a1", "*116#", "998971300909*5000") == \
        ("END Your request for 5 000 so'm to +998971300909 is being processed. "
         "If it goes through, the fee will be 100 so'm. An SMS will tell you the result.")
    assert dial(app, "ATUid_b1", "*111#", "0151").endswith("To lift the bar call 0890.")
    [ask] = asked(1)
    [bar] = barred(1)
    assert (ask.data["requester"], ask.data["target"], ask.data["amount"]) == (SENDER, RECIPIENT, 500_000)
    assert (bar.data["msisdn"], bar.data["barred"]) == (SENDER, True)


def test_the_menu_publishes_only_after_the_confirmation(edge, tap):
    parties()
    pull = tap("transfer.requested")
    app = edge("ussd")
    screens = [dial(app, "ATUid_menu", "#131#", text) for text in
               ("", "1", "1*998971300909", "1*998971300909*1")]
    assert [s.split("\n")[0] for s in screens] == ["CON Direct transfer", "CON Enter the recipient's number",
                                                  "CON Amount to send to +998971300909:",
                                                  "CON Send 2 500 so'm to +998971300909"]
    assert screens[-1] == "CON Send 2 500 so'm to +998971300909\nFee: 200 so'm\n1 Confirm\n2 Cancel\n0 Back"
    cancelled = dial(app, "ATUid_menu_cancel", "#131#", "1*998971300909*1*2")
    assert cancelled == "END Cancelled. Nothing was sent."
    confirmed = dial(app, "ATUid_menu", "#131#", "1*998971300909*1*1")
    assert confirmed.startswith("END Your transfer of 2 500 so'm to +998971300909 is being processed.")
    received = pull.rest()
    assert [(e.data["request_id"].split(":")[1], e.data["channel"]) for e in received] == [("ATUid_menu", "menu")]


def test_an_sms_transfer_publishes_the_request_and_leaves_the_answer_to_its_result(edge, tap):
    parties()
    requested, replies = tap("transfer.requested"), tap("sms.send")
    app = edge("sms_inbound")
    response = twilio_post(app, {"MessageSid": "SMtr0001", "From": SENDER, "To": "21112", "Body": "998971300909 2500"})
    assert response.status_code == 200
    [event] = requested(1)
    assert (event.data["channel"], event.data["request_id"].split(":")[:2], event.data["amount"]) == \
        ("sms", ["sms", "SMtr0001"], 250_000)
    assert replies(1, timeout=3) == [], "no 'accepted' SMS before the transfers service's result"


def test_the_history_keyword_replies_with_the_recent_transfers(edge, tap):
    parties(sender_language="ru")
    store.db().collection("transfer_history").document(SENDER).set(
        {"sent": [], "received": [{"at": datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc), "amount": 500_000}]})
    replies = tap("sms.send")
    twilio_post(edge("sms_inbound"), {"MessageSid": "SMhi0001", "From": SENDER, "To": "21112", "Body": "история"})
    [reply] = replies(1)
    assert reply.data["template"] == "edge.history.report"
    assert reply.data["params"]["lines"] == "02.03.2026 14:00 получено 5 000 сумов"


def signed_call(app, query: dict, form: dict):
    url = URL + ("?" + urlencode(query) if query else "")
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    return app.post("/" + ("?" + urlencode(query) if query else ""), data=form,
                    headers={"X-Twilio-Signature": signature})


def test_the_pay_card_ivr_gathers_number_and_code_then_publishes_one_redeem_request(edge, tap):
    parties()
    pull = tap("voucher.redeem-requested")
    app = edge("voice_inbound")
    call = {"CallSid": "CAivr0001", "From": SENDER, "To": "0670"}
    first = signed_call(app, {}, call).data.decode()
    assert "<Gather" in first and "step=recipient" in first
    second = signed_call(app, {"step": "recipient", "attempt": "1"}, {**call, "Digits": "971300909"}).data.decode()
    assert "step=serial" in second and "recipient=%2B998971300909" in second
    third = signed_call(app, {"step": "serial", "attempt": "1", "recipient": RECIPIENT},
                        {**call, "Digits": "0001"}).data.decode()
    assert "step=code" in third and "serial=0001" in third
    last = signed_call(app, {"step": "code", "attempt": "1", "recipient": RECIPIENT, "serial": "0001"},
                       {**call, "Digits": "123456789"})
    assert last.status_code == 200 and "<Hangup" in last.data.decode()
    [event] = pull(1)
    assert (event.data["caller"], event.data["recipient"], event.data["card_serial"], event.data["secret_code"]) == \
        (SENDER, RECIPIENT, "0001", "123456789")
    assert event.data["request_id"].startswith("call:CAivr0001:") and "123456789" not in event.data["request_id"]


def test_a_forged_step_url_is_refused(edge):
    parties()
    form = {"CallSid": "CAivr0002", "From": SENDER, "To": "0670", "Digits": "123456789"}
    signature = RequestValidator(TOKEN).compute_signature(URL, form)     # signed without the query
    response = edge("voice_inbound").post("/?step=code&recipient=%2B998971300909", data=form,
                                          headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_a_blocked_caller_is_refused_by_the_ivr_at_once(edge):
    provision(OTHER, "ru", status="blocked")
    said = signed_call(edge("voice_inbound"), {}, {"CallSid": "CAivr0003", "From": OTHER, "To": "0670"}).data.decode()
    assert "С заблокированного номера нельзя активировать карту оплаты" in said and "<Gather" not in said
