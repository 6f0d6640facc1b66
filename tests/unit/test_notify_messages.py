"""Message records: language choice, rendering and counting, and how carrier answers and callbacks change them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from functions.notify import messages
from shared import text_catalog, texts
from shared.carrier import AcceptedMessage, PermanentCarrierError
from shared.events import SmsSend, SmsStatus
from shared.operator import OperatorProfile

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
TO = "+998901234567"

PROFILE = OperatorProfile(name="DemoTel", country="UZ", national_number_length=9, timezone="Asia/Tashkent",
                          currency={"code": "UZS", "minor_unit": 2}, languages=["uz", "ru", "en"],
                          default_language="uz")

SAMPLE_TEXTS = """\
test.balance:
  en: "Your balance is {amount}"
  ru: "Ваш баланс: {amount}"
  uz: "Balansingiz: {amount}"
  ky: "Балансыңыз: {amount}"
  zh: "您的余额：{amount}"
test.long:
  en: "{text}"
  ru: "{text}"
  uz: "{text}"
  ky: "{text}"
  zh: "{text}"
"""


@pytest.fixture(autouse=True)
def sample_texts(tmp_path, monkeypatch):
    (tmp_path / "sample.yaml").write_text(SAMPLE_TEXTS, encoding="utf-8")
    monkeypatch.setattr(text_catalog, "TEXTS_DIR", tmp_path)  # where the catalog is read from
    monkeypatch.setattr(text_catalog, "SERVICES_DIR", tmp_path)  # the sample alone, no service texts
    texts.catalog.cache_clear()
    yield
    texts.catalog.cache_clear()


def compose(language="en", **request):
    payload = SmsSend(**{"to": TO, "template": "test.balance", "params": {"amount": "25 000 UZS"}, **request})
    return messages.compose(payload, language=language, sender="DemoTel", event_id="evt-1",
                            correlation_id="corr-1", now=NOW)


@pytest.mark.parametrize("requested, subscriber, expected", [
    ("ru", "uz", "ru"),        # the sender's explicit choice wins
    (None, "ru", "ru"),        # else the subscriber's language
    (None, None, "uz"),        # else the operator's default
    (None, "zh", "uz"),        # a language this operator does not offer falls back to its default
])
def test_language_choice(requested, subscriber, expected):
    assert messages.choose_language(requested, subscriber, PROFILE) == expected


def test_a_queued_record_holds_the_rendered_text_and_its_cost():
    record = compose()
    assert record["body"] == "Your balance is 25 000 UZS"
    assert (record["to"], record["from"], record["language"]) == (TO, "DemoTel", "en")
    assert (record["encoding"], record["segments"], record["status"]) == ("GSM-7", 1, "queued")
    assert record["message_id"] == messages.message_id("evt-1")
    assert [entry["status"] for entry in record["history"]] == ["queued"]
    assert messages.needs_sending(record)


def test_a_russian_text_is_ucs2():
    record = compose("ru")
    assert record["body"] == "Ваш баланс: 25 000 UZS"
    assert record["encoding"] == "UCS-2"


def test_a_long_cyrillic_text_costs_several_segments():
    record = compose(template="test.long", params={"text": "Ж" * 140})
    assert (record["encoding"], record["segments"]) == ("UCS-2", 3)


def test_message_ids_are_stable_per_event_and_distinct_across_events():
    assert messages.message_id("evt-1") == messages.message_id("evt-1")
    assert messages.message_id("evt-1") != messages.message_id("evt-2")


@pytest.mark.parametrize("request_fields, reason", [
    ({"template": "no.such.text"}, "unknown text template"),
    ({"params": {}}, "needs parameter 'amount'"),
    ({"template": "test.long", "params": {"text": "x" * 1601}}, "more than the carrier's 1600"),
    ({"template": "test.long", "params": {"text": "   "}}, "empty text"),
])
def test_requests_that_cannot_become_an_sms_are_invalid(request_fields, reason):
    with pytest.raises(messages.InvalidMessage, match=reason):
        compose(**request_fields)


def test_the_carriers_acceptance_stores_its_sid_and_first_status():
    record = compose()
    update = messages.accepted(record, AcceptedMessage(sid="SM1", status="queued", num_segments=1), NOW)
    record.update(update)
    assert (record["carrier_sid"], record["carrier_segments"], record["status"]) == ("SM1", 1, "queued")
    assert [e["source"] for e in record["history"]] == ["notify", "carrier-api"]
    assert not messages.needs_sending(record)


def test_a_permanent_refusal_ends_the_message_failed_with_the_reason():
    record = compose()
    error = PermanentCarrierError("carrier answered 400: The 'To' number is not valid", status=400, code=21211)
    record.update(messages.refused(record, error, NOW))
    assert record["status"] == "failed"
    assert record["error"]["code"] == 21211
    assert record["final_at"] == NOW
    assert not messages.needs_sending(record)


def _report(status, minutes=0, error_code=None):
    return SmsStatus(message_sid="SM1", status=status, error_code=error_code,
                     reported_at=NOW + timedelta(minutes=minutes))


def test_callbacks_out_of_order_end_delivered_and_all_are_kept():
    record = compose()
    for report in (_report("delivered", 2), _report("sent", 1), _report("delivered", 2)):
        update, _ = messages.reported(record, report, event_id="cb", now=NOW)
        record.update(update)
    assert record["status"] == "delivered"
    assert [(e["status"], e["applied"]) for e in record["history"][1:]] == [
        ("delivered", True), ("sent", False), ("delivered", False)]


def test_an_undelivered_callback_keeps_the_carriers_error_code():
    record = compose()
    update, transition = messages.reported(record, _report("undelivered", error_code="30005"), event_id="cb", now=NOW)
    assert transition.became_final
    assert update["status"] == "undelivered" and update["error"]["code"] == "30005"


def test_an_unknown_sid_is_awaited_briefly_then_refused():
    assert messages.may_be_unlinked(_report("sent"), NOW + timedelta(seconds=30))
    assert not messages.may_be_unlinked(_report("sent"), NOW + messages.LINK_GRACE)


def test_a_claim_holds_off_a_concurrent_delivery_until_it_ends_or_expires():
    record = compose()
    record.update(messages.claim(record, NOW))
    assert record["send_attempts"] == 1
    with pytest.raises(messages.SendInProgress):
        messages.claim(record, NOW + timedelta(seconds=1))
    assert messages.claim(record, NOW + messages.SEND_LEASE)["send_attempts"] == 2   # that attempt died
    record.update(messages.released(record, NOW))
    assert messages.claim(record, NOW)["send_attempts"] == 2


def test_nothing_to_claim_once_the_carrier_has_the_message():
    record = compose()
    record.update(messages.claim(record, NOW))
    record.update(messages.accepted(record, AcceptedMessage(sid="SM1", status="queued", num_segments=1), NOW))
    assert record["send_lease_until"] is None
    assert messages.claim(record, NOW) is None


def test_the_status_callback_url_names_the_message_whatever_query_it_already_has():
    assert messages.status_callback_url("https://edge.example/status", "m-1") == \
        "https://edge.example/status?message_id=m-1"
    assert messages.status_callback_url("https://edge.example/status?env=prod", "m-1") == \
        "https://edge.example/status?env=prod&message_id=m-1"


def test_a_callback_before_the_carriers_answer_stores_its_sid_so_nothing_sends_again():
    record = compose()
    record.update(messages.claim(record, NOW))
    update, transition = messages.reported(record, _report("sent"), event_id="cb", now=NOW)
    record.update(update)
    assert (record["status"], record["carrier_sid"]) == ("sent", "SM1") and transition.changed
    assert not messages.needs_sending(record)
    record.update(messages.accepted(record, AcceptedMessage(sid="SM1", status="queued", num_segments=1), NOW))
    assert (record["status"], record["send_lease_until"]) == ("sent", None)   # the late answer moves nothing back


def test_a_callback_naming_another_sid_than_the_messages_is_refused():
    record = compose()
    record.update(messages.accepted(record, AcceptedMessage(sid="SM2", status="queued", num_segments=1), NOW))
    with pytest.raises(messages.ForeignCallback, match="has carrier SID SM2, the callback names SM1"):
        messages.reported(record, _report("delivered"), event_id="cb", now=NOW)


@pytest.mark.parametrize("current", ["queued", "sent", "delivered", "failed"])
@pytest.mark.parametrize("answered", ["queued", "accepted"])
def test_an_answer_written_without_reading_the_record_ends_as_the_read_one_would(current, answered):
    record = compose()
    record.update(messages.claim(record, NOW))
    record["status"] = current
    answer = AcceptedMessage(sid="SM1", status=answered, num_segments=2)
    read = {**record, **messages.accepted(record, answer, NOW)}
    fields, entry = messages.accepted_unread(answer, NOW)
    assert {**record, **fields, "history": [*record["history"], entry]} == read


def test_an_answer_that_could_move_the_status_is_not_written_blind():
    assert messages.accepted_unread(AcceptedMessage(sid="SM1", status="sent", num_segments=1), NOW) is None
