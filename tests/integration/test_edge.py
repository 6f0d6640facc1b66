"""The edge webhooks on the real Firestore and Pub/Sub emulators: a subscriber dials *100# and
reads their buckets, texts BALANCE and gets one sms.send, and Twilio's callbacks become events."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import functions_framework
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from twilio.request_validator import RequestValidator

from shared import bus, ledger, operator, settings, signing, store
from shared.events import utcnow
from shared.ledger_core import Account

SOURCE = "functions/edge/main.py"
TOKEN = "integration-twilio-token"
SECRET = "integration-ussd-secret"
URL = "http://localhost/"
RU_USER, EN_USER, BLOCKED_USER, STRANGER = "+998901234567", "+998911112233", "+998935556677", "+998977778899"


@pytest.fixture
def edge(firestore_clean, monkeypatch):
    """`edge(target)`: a test client of one webhook, its module loaded against the emulators."""
    monkeypatch.setenv("VAS_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("VAS_USSD_GATEWAY_SECRET", SECRET)
    for cached in (settings.get, operator.current, store.db, bus._publisher):
        cached.cache_clear()
    yield lambda target: functions_framework.create_app(target, SOURCE).test_client()
    monkeypatch.undo()
    for cached in (settings.get, operator.current, store.db, bus._publisher):
        cached.cache_clear()


def provision(msisdn: str, language: str, status: str = "active", credits=()) -> None:
    """A subscriber as provisioning stores it, and their account as the ledger stores it."""
    db = store.db()
    db.collection(store.SUBSCRIBERS).document(msisdn).set({
        "msisdn": msisdn, "customer_type": "individual", "line_type": "prepaid", "language": language,
        "tariff_plan": "standard", "status": status, "name": None})
    now = utcnow()
    account = Account.new(msisdn, now - timedelta(days=40))
    for i, (bucket, amount, expires_at) in enumerate(credits):
        account.credit(bucket, amount, expires_at=expires_at, reason="topup", reference=f"seed-{i}",
                       at=now - timedelta(days=40))
    db.collection(store.ACCOUNTS).document(msisdn).set(ledger.account_to_document(account))


def dial(app, msisdn: str, code: str = "*100#", text: str = ""):
    body = urlencode({"sessionId": "ATUid_42", "serviceCode": code, "phoneNumber": msisdn,
                      "networkCode": "43401", "text": text}).encode()
    return app.post("/", data=body, content_type="application/x-www-form-urlencoded",
                    headers={signing.USSD_SIGNATURE_HEADER: signing.sign_body(SECRET, body)})


def twilio_post(app, form: dict):
    signature = RequestValidator(TOKEN).compute_signature(URL, form)
    return app.post("/", data=form, headers={"X-Twilio-Signature": signature})


# --- *100# ---------------------------------------------------------------------------------

def test_balance_check_reads_each_bucket_and_its_expiry_in_the_subscribers_language(edge):
    bonus_expiry = datetime(2099, 5, 31, 18, 59, tzinfo=timezone.utc)  # 23:59 in Tashkent
    past = utcnow() - timedelta(days=1)                                 # expired, not yet swept
    provision(RU_USER, "ru", credits=[("main", 2_500_000, None), ("bonus", 500_000, bonus_expiry),
                                      ("bonus", 900_000, past)])
    response = dial(edge("ussd"), "998901234567")  # the gateway may send it without '+'
    assert response.status_code == 200
    # Longer than a Cyrillic screen: the second page after "1 Ещё".
    assert response.data.decode() == "CON Ваш баланс:\nОсновной баланс: 25 000 сумов\n1 Ещё"
    assert dial(edge("ussd"), "998901234567", text="1").data.decode() == (
        "END Бонусный баланс: 5 000 сумов, действует до 31.05.2099 23:59")


def test_unknown_and_blocked_subscribers_are_told_why(edge):
    provision(BLOCKED_USER, "en", status="blocked")
    app = edge("ussd")
    assert dial(app, BLOCKED_USER).data.decode() == "END Your line is blocked. For help call 0890."
    stranger = dial(app, STRANGER).data.decode()
    assert stranger.startswith("END Bu raqam DemoTel xizmatlarida ro'yxatdan o'tmagan.") and "0890" in stranger


def test_an_unknown_code_lists_the_services_in_the_subscribers_language(edge):
    provision(EN_USER, "en")
    assert dial(edge("ussd"), EN_USER, code="*777#").data.decode() == \
        ("CON *777# is not a service. Available:\n*100# balance\n"
         "*112*number*amount# send credit, e.g. *112*998912345678*2500#\n"
         "*116*number*amount# ask for a top-up\n*111*0151# bar transfers\n1 More")
    assert dial(edge("ussd"), EN_USER, code="*777#", text="1").data.decode() == \
        "END #131# balance transfer\n*160# missed-call alerts\n*120# subscriptions\n*125# communication credits"


# --- SMS -----------------------------------------------------------------------------------

def test_sms_balance_publishes_one_sms_send_and_a_repeated_message_sid_the_same_event(edge, tap):
    provision(RU_USER, "ru", credits=[("main", 1_000_000, None)])
    pull = tap("sms.send")
    app = edge("sms_inbound")
    form = {"MessageSid": "SMaaaa0001", "From": RU_USER, "To": "21112", "Body": "баланс"}
    first = twilio_post(app, form)
    assert first.status_code == 200 and first.data.decode().endswith("<Response />")
    [envelope] = pull(1)
    assert envelope.type == "sms.send"
    assert envelope.data == {"to": RU_USER, "template": "edge.balance.report", "language": "ru",
                             "params": {"lines": "Основной баланс: 10 000 сумов"}, "sender": "21112",
                             "reference": "twilio:SMaaaa0001", "billing": None}  # a balance reply is free
    assert twilio_post(app, form).status_code == 200
    [again] = pull(1)
    assert again.id == envelope.id


def test_sms_help_and_unknown_keywords_get_the_keyword_list(edge, tap):
    provision(EN_USER, "en")
    pull = tap("sms.send")
    app = edge("sms_inbound")
    twilio_post(app, {"MessageSid": "SMbbbb0001", "From": EN_USER, "To": "21112", "Body": "help"})
    twilio_post(app, {"MessageSid": "SMbbbb0002", "From": EN_USER, "To": "21112", "Body": "weather"})
    sent = {e.data["template"]: e.data for e in pull(2)}
    assert sent["edge.sms.help"]["params"]["short_code"] == "21112"
    assert "number amount - send credit, e.g. 998912345678 2500" in sent["edge.sms.help"]["params"]["commands"]
    assert sent["edge.sms.unknown_keyword"]["params"]["word"] == "weather"
    assert sent["edge.sms.unknown_keyword"]["params"]["commands"] == sent["edge.sms.help"]["params"]["commands"]


# --- status callbacks and voice ------------------------------------------------------------

def test_status_callbacks_become_sms_status_events_and_duplicates_share_an_id(edge, tap):
    pull = tap("sms.status")
    app = edge("message_status")
    form = {"MessageSid": "SMcccc0001", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert twilio_post(app, form).status_code == 204
    assert twilio_post(app, form).status_code == 204
    first, second = pull(2)
    assert first.id == second.id
    assert (first.data["message_sid"], first.data["status"], first.data["error_code"]) == \
        ("SMcccc0001", "undelivered", "30003")


def test_the_message_id_in_a_signed_callback_url_reaches_notify_and_a_changed_one_is_refused(edge, tap):
    pull = tap("sms.status")
    app = edge("message_status")
    form = {"MessageSid": "SMcccc0002", "MessageStatus": "delivered"}
    signature = RequestValidator(TOKEN).compute_signature(f"{URL}?message_id=m-42", form)
    assert app.post("/?message_id=m-42", data=form, headers={"X-Twilio-Signature": signature}).status_code == 204
    assert app.post("/?message_id=m-43", data=form, headers={"X-Twilio-Signature": signature}).status_code == 403
    [event] = pull(1)
    assert (event.data["message_sid"], event.data["message_id"]) == ("SMcccc0002", "m-42")


def test_a_caller_hears_in_their_language_that_the_number_has_no_voice_service(edge):
    provision(RU_USER, "ru")
    response = twilio_post(edge("voice_inbound"), {"CallSid": "CA1", "From": RU_USER, "To": "+998712000000"})
    assert response.status_code == 200
    assert '<Say language="ru-RU" voice="Polly.Tatyana">Здравствуйте.' in response.data.decode()


# --- fuzzing the whole webhook -------------------------------------------------------------

NUMBERS = st.sampled_from([RU_USER, "998901234567", "901234567", STRANGER, "", "+1", "abc"])
FUZZ = dict(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@hsettings(**FUZZ)
@given(code=st.one_of(st.sampled_from(["*100#", "*112#", "#131#", ""]), st.text(max_size=30)),
       phone=st.one_of(NUMBERS, st.text(max_size=20)), text=st.text(max_size=60))
def test_any_signed_ussd_request_gets_a_screen_never_a_5xx(edge, code, phone, text):
    provision(RU_USER, "ru", credits=[("main", 100, None)])
    response = dial(edge("ussd"), phone, code=code, text=text)
    assert response.status_code == 200
    assert re.match(r"^(CON|END) \S", response.data.decode())


@hsettings(**FUZZ)
@given(body=st.text(max_size=80), sender=st.one_of(NUMBERS, st.text(max_size=20)),
       sid=st.text(alphabet="SMabcdef0123456789", min_size=0, max_size=40))
def test_any_signed_sms_gets_twiml_never_a_5xx(edge, body, sender, sid):
    provision(RU_USER, "ru", credits=[("main", 100, None)])
    response = twilio_post(edge("sms_inbound"), {"MessageSid": sid, "From": sender, "To": "21112", "Body": body})
    assert response.status_code == 200
    assert response.data.decode().startswith('<?xml version="1.0" encoding="UTF-8"?><Response')


# --- as deployed: a functions-framework process --------------------------------------------

def test_the_ussd_function_serves_balance_checks_as_its_own_process(firestore_clean, function_server):
    import requests

    provision(EN_USER, "en", credits=[("main", 4_200, None)])
    service = function_server("edge-ussd", VAS_USSD_GATEWAY_SECRET=SECRET)
    body = urlencode({"sessionId": "s", "serviceCode": "*100#", "phoneNumber": EN_USER, "text": ""}).encode()
    response = requests.post(service.ready_url, data=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        signing.USSD_SIGNATURE_HEADER: signing.sign_body(SECRET, body)})
    assert response.status_code == 200
    assert response.text == "END Your balance:\nMain balance: 42 so'm"
    assert requests.post(service.ready_url, data=body, timeout=10).status_code == 403


def test_outside_the_local_stack_the_edge_without_its_secrets_never_serves(emulators, function_server):
    """Deployed without its secrets, the process exits naming them: no request, however signed, is answered."""
    from emulators.process import ServiceFailed

    with pytest.raises(ServiceFailed) as refused:
        function_server("edge-ussd", VAS_ENV="cloud")
    for variable in ("VAS_TWILIO_AUTH_TOKEN", "VAS_USSD_GATEWAY_SECRET", "VAS_WEBHOOK_BASE_URL"):
        assert variable in str(refused.value)
