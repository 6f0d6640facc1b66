"""Emails without I/O: templates in every language, escaped HTML, addresses validated and masked in logs."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pydantic
import pytest

from functions.notify import emails
from functions.provisioning import subscribers
from shared import log, texts
from shared.events import EmailSend, SubscriberProvisioned

T0 = datetime(2026, 3, 16, 5, 0, tzinfo=timezone.utc)
RECEIPT = {"amount": "25 000 UZS", "bucket": "Main", "balance": "40 000 UZS", "reference": "R-1"}


def email_templates() -> set[str]:
    return {key.rsplit(".", 1)[0] for key in texts.catalog() if key.startswith("email.")}


def test_every_email_template_has_a_subject_a_text_and_an_html_part_with_the_same_placeholders():
    assert "email.topup_receipt" in email_templates()
    for template in email_templates():
        parts = {part: texts.catalog().get(f"{template}.{part}") for part in emails.PARTS}
        assert all(parts.values()), f"{template}: needs .subject, .text and .html, has {parts}"
        for language in texts.LANGUAGES:
            # The subject may name fewer parameters; the text and the HTML say the same.
            assert texts.placeholders(parts["text"][language]) == texts.placeholders(parts["html"][language])
            assert texts.placeholders(parts["subject"][language]) <= texts.placeholders(parts["text"][language])
            assert "\n" not in parts["subject"][language], f"{template} [{language}]: a subject is one line"


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_the_topup_receipt_renders_in_every_language(language):
    rendered = emails.render("email.topup_receipt", language, RECEIPT)
    for value in RECEIPT.values():
        assert value in rendered.text and value in rendered.html
    assert "25 000 UZS" in rendered.subject


def test_parameters_are_escaped_in_the_html_and_kept_as_written_in_the_text_and_subject():
    hostile = {**RECEIPT, "amount": "<script>x</script>\nBcc: a@b.example", "reference": "A&B"}
    rendered = emails.render("email.topup_receipt", "en", hostile)
    assert "<script>" not in rendered.html and "&lt;script&gt;x&lt;/script&gt;" in rendered.html
    assert "A&amp;B" in rendered.html and "A&B" in rendered.text
    assert "\n" not in rendered.subject   # no header can be smuggled in through a parameter


def test_an_unknown_template_or_a_missing_parameter_is_an_invalid_email():
    with pytest.raises(emails.InvalidEmail, match="unknown email template"):
        emails.render("email.no_such", "en", {})
    with pytest.raises(emails.InvalidEmail, match="needs parameter"):
        emails.render("email.topup_receipt", "en", {"amount": "1 UZS"})


def test_a_record_is_queued_with_its_rendering_and_claimed_once():
    request = EmailSend(to="Aida@Mail.Example", template="email.topup_receipt", params=RECEIPT)
    record = emails.compose(request, language="en", sender="notices@op.example", event_id="e-1",
                            correlation_id="c-1", now=T0)
    assert record["to"] == "Aida@mail.example" and record["status"] == emails.QUEUED
    assert record["email_id"] == emails.email_id("e-1") != emails.email_id("e-2")
    record.update(emails.claim(record, T0))
    with pytest.raises(emails.lease.SendInProgress):
        emails.claim(record, T0)
    assert emails.claim({**record, **emails.sent("ses-1", T0)}, T0) is None
    assert emails.claim({**record, **emails.refused("MessageRejected", "no", T0)}, T0) is None


@pytest.mark.parametrize("address", ["", "aida", "aida@", "@mail.example", "aida@mail", "a b@mail.example",
                                     "aida@mail.example.", "x" * 250 + "@mail.example"])
def test_an_address_that_is_not_one_is_refused(address):
    with pytest.raises(pydantic.ValidationError):
        EmailSend(to=address, template="email.topup_receipt")
    with pytest.raises(pydantic.ValidationError):
        SubscriberProvisioned(msisdn="+998901234567", email=address)


def test_the_bss_email_is_stored_and_an_update_without_one_keeps_it():
    first = subscribers.profile(None, SubscriberProvisioned(msisdn="+998901234567", customer_type="corporate",
                                                            email="accounts@firm.example"),
                                occurred_at=T0, now=T0, default_language="uz")
    assert first["email"] == "accounts@firm.example"
    second = subscribers.profile(first, SubscriberProvisioned(msisdn="+998901234567"), occurred_at=T0, now=T0,
                                 default_language="uz")
    assert second["email"] == "accounts@firm.example"


def test_email_addresses_are_masked_in_logs():
    formatter = log.CloudLoggingFormatter("notify-email-send")
    record = logging.LogRecord("vas.test", logging.WARNING, __file__, 1, "email to %s refused",
                               ("aida.karimova@mail.example",), None)
    record.to = "aida.karimova@mail.example"
    line = formatter.format(record)
    assert "karimova" not in line
    entry = json.loads(line)
    assert entry["to"] == "a***@mail.example" and entry["message"] == "email to a***@mail.example refused"


def test_notify_refuses_to_start_without_the_email_sender_outside_the_local_stack(monkeypatch):
    """Else it would start and fail every email until each one is dead-lettered."""
    from pathlib import Path

    import functions_framework

    from shared import settings

    monkeypatch.delenv("VAS_ENV", raising=False)
    for name in ("VAS_TWILIO_ACCOUNT_SID", "VAS_TWILIO_AUTH_TOKEN", "VAS_SES_ACCESS_KEY_ID",
                 "VAS_SES_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "from-secret-manager")
    monkeypatch.delenv("VAS_EMAIL_SENDER", raising=False)
    source = Path(__file__).resolve().parents[2] / "functions" / "notify" / "main.py"
    settings.get.cache_clear()
    try:
        with pytest.raises(settings.MissingSetting, match="VAS_EMAIL_SENDER"):
            functions_framework.create_app("on_email_send", str(source))
    finally:
        monkeypatch.undo()
        settings.get.cache_clear()


def test_html_parameters_are_escaped_whatever_their_type():
    rendered = emails.render("email.topup_receipt", "en", {**RECEIPT, "amount": ["<script>alert(1)</script>"]})
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html


def test_an_address_with_unusual_characters_is_masked_to_its_first_character():
    assert log.mask_personal("to john.smith#1@gmail.com and o'brien@x.com") == "to j***@gmail.com and o***@x.com"


@pytest.mark.parametrize("code, permanent", [("MessageRejected", True), ("AccountSuspendedException", False),
                                             ("MailFromDomainNotVerifiedException", False),
                                             ("NotFoundException", False), ("SendingPausedException", False)])
def test_only_a_refusal_of_the_email_itself_is_final_account_problems_are_retried(monkeypatch, code, permanent):
    """An operator can fix the account; its emails then go out from the dead-letter replay, not lost as failed."""
    import boto3
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    from functions.notify import ses

    client = boto3.client("sesv2", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    monkeypatch.setattr(ses, "_client", lambda: client)
    with Stubber(client) as stub:
        stub.add_client_error("send_email", service_error_code=code, service_message="no")
        with pytest.raises(ses.PermanentSesError if permanent else ClientError) as raised:
            ses.send("notices@op.example", "a@b.example", "s", "t", "<p>h</p>")
    assert isinstance(raised.value, ses.PermanentSesError) == permanent
