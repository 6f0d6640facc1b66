"""email.send through notify to Amazon SES (moto's server, started by the test session), read back from SES."""

from __future__ import annotations

import time
import uuid

import pytest

from functions.notify import emails, main, ses
from shared import bus, catalog, runtime, settings, store
from tests.integration.test_notify import crash_once

MSISDN = "+998901234567"
RECEIPT = {"amount": "25 000 UZS", "bucket": "Main", "balance": "40 000 UZS", "reference": "R<7>&co"}


@pytest.fixture
def mailbox(firestore_clean, ses):
    """A recipient address no other test sends to, and the emails SES took for it."""
    address = f"subscriber-{uuid.uuid4().hex[:10]}@mail.example"

    def received() -> list[dict]:
        return [mail for mail in ses.sent() if address in mail["destinations"].get("ToAddresses", [])]

    received.address = address
    return received


def deliver(to: str, event_id: str = "email-1", **fields) -> str:
    """Deliver an email.send event to notify as its push subscription would."""
    payload = {"to": to, "template": "email.topup_receipt", "params": RECEIPT, **fields}
    data, attributes = bus.encode(catalog.make_envelope("email.send", payload, event_id=event_id))
    return runtime.process("notify-email-send", main.on_email_send.handler, event_id, data, attributes,
                           after_commit=main.send_to_ses)


def record(event_id: str = "email-1") -> dict | None:
    return store.db().collection(store.EMAILS).document(emails.email_id(event_id)).get().to_dict()


def test_a_pushed_email_send_reaches_ses_once_in_the_subscribers_language(mailbox, pubsub_push):
    store.db().collection(store.SUBSCRIBERS).document(MSISDN).set({"msisdn": MSISDN, "language": "ru"})
    payload = {"to": mailbox.address, "template": "email.topup_receipt", "params": RECEIPT, "msisdn": MSISDN,
               "reference": "topup-1"}
    push = lambda: pubsub_push("functions/notify/main.py", "on_email_send", "email.send", payload, "email-push")  # noqa: E731

    assert push().status_code == 200
    assert push().status_code == 200    # Pub/Sub redelivers the same event: no second email

    [mail] = mailbox()
    assert mail["source"] == settings.get().email_sender
    assert mail["subject"] == "Квитанция о пополнении: 25 000 UZS"
    # SES keeps the HTML part; the parameters in it are escaped.
    assert "<strong>25 000 UZS</strong>" in mail["body"] and "R&lt;7&gt;&amp;co" in mail["body"]
    stored = record("email-push")
    assert stored["ses_message_id"] == mail["id"] and stored["status"] == "sent"
    assert (stored["template"], stored["language"], stored["to"]) == ("email.topup_receipt", "ru", mailbox.address)
    assert "Номер операции: R<7>&co" in stored["text"]


def test_a_crash_between_commit_and_the_ses_call_sends_exactly_once_on_redelivery(mailbox, monkeypatch):
    crash_once(monkeypatch, ses, "send", "instance stopped after the commit, before calling SES")
    with pytest.raises(SystemError):
        deliver(mailbox.address, language="en")
    assert mailbox() == [] and record()["status"] == "queued"

    assert deliver(mailbox.address, language="en") == "duplicate"
    assert deliver(mailbox.address, language="en") == "duplicate"
    [mail] = mailbox()
    assert mail["subject"] == "Top-up receipt: 25 000 UZS"
    assert record()["ses_message_id"] == mail["id"] and record()["send_attempts"] == 2


def test_an_email_ses_refuses_ends_failed_and_is_not_retried(mailbox, monkeypatch):
    monkeypatch.setenv("VAS_EMAIL_SENDER", "unverified@vas-local.example")
    settings.get.cache_clear()
    try:
        assert deliver(mailbox.address) == "processed"
    finally:
        monkeypatch.undo()
        settings.get.cache_clear()
    assert mailbox() == []
    assert record()["status"] == "failed" and record()["error"]["code"] == "MessageRejected"
    assert deliver(mailbox.address) == "duplicate" and mailbox() == []


def test_an_unknown_template_or_a_missing_parameter_is_rejected_and_sends_nothing(mailbox):
    assert deliver(mailbox.address, event_id="email-unknown", template="email.no_such") == "rejected"
    assert deliver(mailbox.address, event_id="email-short", params={"amount": "1 UZS"}) == "rejected"
    assert mailbox() == [] and record("email-unknown") is None and record("email-short") is None


def test_a_published_email_send_goes_through_pubsub_and_a_notify_process_to_ses(mailbox, function_server,
                                                                                  push_subscriptions):
    """The way the stack runs it: published on email.send, pushed to notify-email-send, read back from SES."""
    notify = function_server("notify-email-send")
    push_subscriptions({"notify-email-send": notify.ready_url}, max_backoff_seconds=1)
    envelope = runtime.publish_new("email.send", {"to": mailbox.address, "template": "email.topup_receipt",
                                                  "params": RECEIPT, "language": "zh"}, event_id="email-published")

    deadline = time.monotonic() + 60   # the record says "sent" once SES answered notify
    while (record(envelope.id) or {}).get("status") != "sent" and time.monotonic() < deadline:
        time.sleep(0.25)
    [mail] = mailbox()
    assert mail["subject"] == "充值收据：25 000 UZS"
    assert record(envelope.id)["ses_message_id"] == mail["id"]
