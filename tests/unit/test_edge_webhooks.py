"""The four webhooks through functions-framework, without emulators: who gets in, and what
unreadable requests or an outage get back (never a 500)."""

from __future__ import annotations

from urllib.parse import urlencode

import functions_framework
import pytest
from twilio.request_validator import RequestValidator

from emulators.process import free_port
from shared import bus, operator, runtime, settings, signing, store

SOURCE = "functions/edge/main.py"
TOKEN = "unit-twilio-token"
SECRET = "unit-ussd-secret"
URL = "http://localhost/"
MSISDN = "+998901234567"


def _clear_caches():
    for cached in (settings.get, store.db, bus._publisher, operator.current):
        cached.cache_clear()


@pytest.fixture
def client(monkeypatch):
    """`client(target)`: a test client of one webhook, with a known secret and token."""
    monkeypatch.setenv("VAS_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("VAS_USSD_GATEWAY_SECRET", SECRET)
    monkeypatch.delenv("VAS_WEBHOOK_BASE_URL", raising=False)
    # Nothing listens here: any Firestore read fails as in an outage, quickly and for real.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    _clear_caches()
    yield lambda target: functions_framework.create_app(target, SOURCE).test_client()
    monkeypatch.undo()
    _clear_caches()


def ussd_post(app, form: dict, secret: str | None = SECRET):
    body = urlencode(form).encode()
    headers = {signing.USSD_SIGNATURE_HEADER: signing.sign_body(secret, body)} if secret else {}
    return app.post("/", data=body, content_type="application/x-www-form-urlencoded", headers=headers)


def twilio_post(app, form: dict, token: str | None = TOKEN):
    headers = {"X-Twilio-Signature": RequestValidator(token).compute_signature(URL, form)} if token else {}
    return app.post("/", data=form, headers=headers)


WEBHOOKS = {
    "ussd": lambda app, signer: ussd_post(app, {"serviceCode": "*100#", "phoneNumber": MSISDN}, signer),
    "sms_inbound": lambda app, signer: twilio_post(app, {"MessageSid": "SM1", "From": MSISDN, "Body": "BAL"}, signer),
    "voice_inbound": lambda app, signer: twilio_post(app, {"CallSid": "CA1", "From": MSISDN}, signer),
    "message_status": lambda app, signer: twilio_post(app, {"MessageSid": "SM1", "MessageStatus": "sent"}, signer),
}


@pytest.mark.parametrize("target", WEBHOOKS)
@pytest.mark.parametrize("signer", [None, "a-wrong-secret"])
def test_unsigned_and_wrongly_signed_requests_are_refused_with_403(client, target, signer):
    response = WEBHOOKS[target](client(target), signer)
    assert response.status_code == 403
    assert response.data == b"Forbidden"


@pytest.fixture
def outside_the_local_stack(monkeypatch):
    """The environment of a deployed function: no VAS_ENV=local, and none of the edge's settings."""
    for name in ("VAS_ENV", "VAS_TWILIO_AUTH_TOKEN", "VAS_USSD_GATEWAY_SECRET", "VAS_WEBHOOK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    _clear_caches()
    yield monkeypatch
    monkeypatch.undo()
    _clear_caches()


def test_outside_the_local_stack_missing_secrets_stop_the_edge_naming_them(outside_the_local_stack, caplog):
    with pytest.raises(settings.MissingSetting) as refused:
        functions_framework.create_app("ussd", SOURCE)
    for variable in ("VAS_TWILIO_AUTH_TOKEN", "VAS_USSD_GATEWAY_SECRET", "VAS_WEBHOOK_BASE_URL"):
        assert variable in str(refused.value)
    assert any(r.levelname == "CRITICAL" and "VAS_USSD_GATEWAY_SECRET" in r.getMessage() for r in caplog.records)


def test_outside_the_local_stack_a_missing_base_url_stops_the_edge(outside_the_local_stack):
    outside_the_local_stack.setenv("VAS_TWILIO_AUTH_TOKEN", TOKEN)
    outside_the_local_stack.setenv("VAS_USSD_GATEWAY_SECRET", SECRET)
    with pytest.raises(settings.MissingSetting, match="VAS_WEBHOOK_BASE_URL"):
        functions_framework.create_app("sms_inbound", SOURCE)


def test_a_signature_over_another_body_is_refused(client):
    app = client("ussd")
    signature = signing.sign_body(SECRET, b"serviceCode=%2A100%23")
    response = app.post("/", data={"serviceCode": "*555#", "phoneNumber": MSISDN},
                        headers={signing.USSD_SIGNATURE_HEADER: signature})
    assert response.status_code == 403


def test_an_oversized_body_is_refused_before_anything_is_read(client):
    response = client("ussd").post("/", data=b"x" * 70_000, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_an_unreadable_number_gets_an_end_screen_in_the_operators_language(client):
    response = ussd_post(client("ussd"), {"serviceCode": "*100#", "phoneNumber": "???"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert response.data.decode() == "END So'rovni o'qib bo'lmadi. Iltimos, qaytadan tering."


def test_a_firestore_outage_answers_try_later_not_500(client):
    response = ussd_post(client("ussd"), {"sessionId": "s1", "serviceCode": "*100#", "phoneNumber": MSISDN})
    assert response.status_code == 200
    assert response.data.decode() == "END Xizmat vaqtincha ishlamayapti. Keyinroq qayta urinib ko'ring."


def test_an_sms_during_a_firestore_outage_still_gets_a_reply_published(client, monkeypatch):
    published = []
    monkeypatch.setattr(runtime, "publish_new", lambda topic, payload, **kw: published.append((topic, payload, kw)))
    response = twilio_post(client("sms_inbound"), {"MessageSid": "SM9", "From": MSISDN, "To": "21112", "Body": "BAL"})
    assert response.status_code == 200
    assert response.data.decode().endswith("<Response />")
    [(topic, payload, kw)] = published
    assert (topic, payload.template, payload.language, payload.to) == ("sms.send", "edge.unavailable", "uz", MSISDN)


def test_an_sms_reply_that_cannot_be_published_answers_503_so_twilio_retries(client, monkeypatch):
    def outage(*args, **kwargs):
        raise TimeoutError("pubsub unreachable")
    monkeypatch.setattr(runtime, "publish_new", outage)
    response = twilio_post(client("sms_inbound"), {"MessageSid": "SM9", "From": MSISDN, "Body": "HELP"})
    assert response.status_code == 503


def test_an_sms_without_a_readable_sender_gets_a_twiml_answer(client):
    response = twilio_post(client("sms_inbound"), {"MessageSid": "SM9", "From": "unknown", "Body": "BAL"})
    assert response.status_code == 200
    assert "<Message>Xabaringizni o'qib bo'lmadi. Yordam: 0890.</Message>" in response.data.decode()


def test_a_call_during_an_outage_still_hears_the_prompt_in_the_default_language(client):
    response = twilio_post(client("voice_inbound"), {"CallSid": "CA1", "From": MSISDN, "To": "+998712000000"})
    assert response.status_code == 200
    assert "<Say>Assalomu alaykum. Bu raqamda ovozli xizmat mavjud emas. Xayr.</Say><Hangup />" in response.data.decode()


def test_an_unknown_status_is_a_400_that_says_why(client):
    response = twilio_post(client("message_status"), {"MessageSid": "SM1", "MessageStatus": "lost"})
    assert response.status_code == 400
    assert "unknown MessageStatus 'lost'" in response.data.decode()


def test_a_status_that_cannot_be_published_answers_503(client, monkeypatch):
    monkeypatch.setattr(runtime, "publish_new", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
    response = twilio_post(client("message_status"), {"MessageSid": "SM1", "MessageStatus": "delivered"})
    assert response.status_code == 503
