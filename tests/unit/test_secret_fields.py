"""Payload fields marked secret (events.SECRET: pay-card codes, PINs) never reach a log or a stored copy."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from pydantic import Field

from functions.ops import dead_letters
from shared import bus, catalog, events, log

CODE = "48151623420815"


def redeem_message() -> tuple[bytes, dict[str, str]]:
    payload = {"request_id": "call:CA1", "caller": "+998901234567", "recipient": "+998901234568", "card_serial": "1",
               "secret_code": CODE, "requested_at": "2026-11-22T10:00:00+00:00"}
    return bus.encode(catalog.make_envelope("voucher.redeem-requested", payload, event_id="e-1"))


def test_the_pay_card_codes_are_marked_secret():
    assert events.secret_fields(events.VoucherRedeemRequested) == {"secret_code"}
    assert events.secret_fields(events.VoucherIssued) == {"secret_code"}


def test_any_field_marked_secret_is_blanked_the_same_way():
    """The marker is the whole mechanism: a new secret (a mailbox PIN) needs nothing else."""
    class PinChanged(events.Payload):
        msisdn: str
        pin: str = Field(json_schema_extra=events.SECRET)

    assert events.redacted(PinChanged, {"msisdn": "+998901234567", "pin": "4321"}) == \
        {"msisdn": "+998901234567", "pin": events.REDACTED}
    assert PinChanged.model_json_schema()["properties"]["pin"]["secret"] is True


def stored_dead_letter(message_id: str, data: bytes, attributes: dict[str, str], age: timedelta) -> dict:
    """A dead letter as ops stores it: the record, and when it died (Firestore's server time, `at`)."""
    return {**dead_letters.record(message_id, data, attributes), "at": events.utcnow() - age}


def test_a_dead_letter_is_stored_without_its_code_and_is_not_replayed_without_it():
    data, attributes = redeem_message()
    stored = stored_dead_letter("m-1", data, {**attributes, "CloudPubSubDeadLetterSourceDeliveryCount": "5"},
                                age=timedelta(hours=1))
    assert CODE not in json.dumps({k: v for k, v in stored.items() if k != "at"})
    assert stored["redacted"] == ["secret_code"] and stored["event_type"] == "voucher.redeem-requested"
    with pytest.raises(ValueError, match="secret_code"):   # within the replay window: refused for its code only
        dead_letters.replay_of(stored, events.utcnow())


def test_a_dead_letter_without_secrets_is_still_kept_byte_for_byte_and_replayed_within_its_window():
    data, attributes = bus.encode(catalog.make_envelope("bss.subscriber", {"msisdn": "+998901234567"},
                                                        event_id="e-2"))
    recent = stored_dead_letter("m-2", data, attributes, age=dead_letters.REPLAY_WINDOW - timedelta(minutes=1))
    assert recent["redacted"] == [] and dead_letters.replay_of(recent, events.utcnow()).data == data
    stale = stored_dead_letter("m-2", data, attributes, age=dead_letters.REPLAY_WINDOW + timedelta(minutes=1))
    with pytest.raises(ValueError, match="older than"):
        dead_letters.replay_of(stale, events.utcnow())


def test_a_secret_field_handed_to_a_log_is_blanked():
    record = logging.LogRecord("vas.test", logging.INFO, __file__, 1, "pay card keyed", (), None)
    record.secret_code = CODE
    record.payload = {"caller": "+998901234567", "secret_code": CODE}
    line = log.CloudLoggingFormatter("transfers-voucher-redeem").format(record)
    assert CODE not in line
    entry = json.loads(line)
    assert entry["secret_code"] == events.REDACTED and entry["payload"]["secret_code"] == events.REDACTED


def test_a_pin_hash_inside_an_options_change_is_blanked_where_it_is_stored_and_logged(caplog):
    pin = {"salt": "ab" * 16, "hash": "cd" * 32, "n": 16384, "r": 8, "p": 1}
    stored = events.redacted(events.MissedCallOptionsChanged, {"msisdn": "+998901234567", "pin": pin})
    assert stored["pin"]["hash"] == events.REDACTED and stored["pin"]["salt"] == pin["salt"]
    with caplog.at_level(logging.INFO):
        logging.getLogger("vas.test").info("pin set", extra={"pin": pin})
    line = log.CloudLoggingFormatter().format(caplog.records[-1])
    assert "cd" * 32 not in line and events.REDACTED in line
