"""Pay cards (vouchers) activated for another subscriber, Beeline's IVR 0670 (pure: no I/O).

The BSS loads each card (`bss.voucher`); we keep `vouchers/{HMAC-SHA256 of the secret code}`, keyed
with a secret from Secret Manager (VAS_VOUCHER_CODE_KEY), so the code itself is never stored and a
leaked database cannot be matched against the few million possible codes without the key; and
`voucher_serials/{serial}` so the BSS resending a card is recognised. A card is activated once:
the redemption marks it used in the same transaction as the credit, so two calls keying the same
code at once credit one recipient.

A caller keys the serial printed on the card as well as its code. A code alone names no card when
it is wrong, so only the serial lets wrong codes count against the card they were tried on: after
MAX_WRONG_CODES_PER_CARD from any callers, the card is locked for the window, even to its right
code (`voucher_card_attempts/{serial as keyed}`); each caller also has their own cap.

Who may activate, and for whom, is the operator's voucher policy (presets/beeline-paycard.yaml:
any subscriber, prepaid or postpaid, not blocked, not roaming; for a prepaid subscriber of ours);
the card decides what is credited. Activation is free.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from functions.transfers import records, rules
from functions.transfers.execution import Addressee, Notice, reason, sms
from functions.transfers.policy import TransferPolicy
from functions.transfers.rules import Party, Refusal
from shared import ledger, localtime, settings, store
from shared.events import VoucherIssued, VoucherRedeemRequested
from shared.money import Currency

# Codes are short digits keyed on a phone: without a cap, a caller could try them one by one, and
# without one per card, many callers (many SIMs) could share the work on one card.
MAX_WRONG_CODES = 5
MAX_WRONG_CODES_PER_CARD = 10
WRONG_CODE_WINDOW = timedelta(hours=24)

_Field = TypeVar("_Field")


class VoucherConflict(ValueError):
    """The BSS sent a card that contradicts one already loaded (a reused code or serial)."""


def code_key(secret_code: str) -> str:
    """The document id of a secret code: its HMAC under the operator's key (a bare hash of 6 digits falls at once)."""
    config = settings.get()
    config.require("voucher_code_key")
    key = config.voucher_code_key
    assert key is not None  # require raised otherwise
    return hmac.new(key.encode(), secret_code.strip().encode(), hashlib.sha256).hexdigest()


def keyed_serial(serial: str) -> str:
    """A card's serial as a phone keys it: its digits (PC-0001 is keyed 0001)."""
    return re.sub(r"[^0-9]", "", serial)


@dataclass(frozen=True)
class Card:
    """A loaded pay card as stored under its code key (`vouchers/{code_key}`).

    `serial` and `amount` are None on a damaged document missing them: loading that code again is a clash.
    """

    serial: str | None
    amount: int | None
    bucket: str | None
    validity_days: int | None
    status: str | None

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> Card | None:
        if document is None:
            return None
        return cls(
            serial=document.get("serial"),
            amount=document.get("amount"),
            bucket=document.get("bucket"),
            validity_days=document.get("validity_days"),
            status=document.get("status"),
        )

    def terms(self) -> tuple[str | None, int | None, str | None, int | None]:
        return (self.serial, self.amount, self.bucket, self.validity_days)


@dataclass(frozen=True)
class WrongCodes:
    """When wrong codes were keyed by one caller, or on one card by anyone (transfers/documents.py)."""

    keyed_at: tuple[datetime, ...] = ()

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> WrongCodes:
        return cls(tuple((document or {}).get("wrong_codes", [])))


def issued(
    card: VoucherIssued, *, stored_by_code: Card | None, serial_code_key: str | None, event_id: str, now: datetime
) -> dict[str, Any] | None:
    """The voucher document to create, None when this card is already loaded; VoucherConflict if it clashes.

    `serial_code_key`: the code key the card's serial is already loaded with (`voucher_serials/{serial}`), if any.
    """
    key = code_key(card.secret_code)
    if serial_code_key is not None and serial_code_key != key:
        raise VoucherConflict(f"serial {card.serial} is already loaded with another secret code")
    if stored_by_code is not None:
        if stored_by_code.terms() != (card.serial, card.amount, card.bucket, card.validity_days):
            raise VoucherConflict(
                f"the secret code of serial {card.serial} already belongs to serial " f"{stored_by_code.serial}"
            )
        return None
    return {
        "serial": card.serial,
        "amount": card.amount,
        "bucket": card.bucket,
        "validity_days": card.validity_days,
        "status": "issued",
        "issued_at": now,
        "event_id": event_id,
        "used_by": None,
        "used_for": None,
        "used_at": None,
        "used_reference": None,
    }


@dataclass(frozen=True)
class VoucherCredit:
    """What an accepted activation credits."""

    serial: str
    amount: int
    bucket: str
    expires_at: datetime | None


def redeem(
    policy: TransferPolicy | None,
    voucher: Card | None,
    *,
    serial: str,
    caller: Party,
    recipient: Party,
    attempts: WrongCodes,
    card_attempts: WrongCodes,
    now: datetime,
    requested_at: datetime | None = None,
) -> VoucherCredit | Refusal:
    """The credit a keyed serial and code give, or why not (texts `transfer.refused.<code>`).

    The people are checked before the code: a blocked, roaming or locked-out caller, or one
    trying a locked card, learns nothing about whether a code is valid. A code of another card
    than the serial keyed is a wrong code.
    """
    if policy is None:
        return Refusal("service_not_offered", {})
    refusal = rules.decide_voucher(policy, caller=caller, recipient=recipient, requested_at=requested_at)
    if refusal is not None:
        return refusal
    if len(wrong_codes(attempts, now)) >= MAX_WRONG_CODES:
        return Refusal("voucher_too_many_attempts", {"hours": int(WRONG_CODE_WINDOW.total_seconds() // 3600)})
    if card_locked(card_attempts, now):
        return Refusal("voucher_card_locked", {})
    if voucher is None or keyed_serial(_stored(voucher.serial, "serial")) != serial:
        return Refusal("voucher_wrong_code", {})
    if voucher.status != "issued":
        return Refusal("voucher_used", {})
    days = voucher.validity_days
    return VoucherCredit(
        serial=_stored(voucher.serial, "serial"),
        amount=_stored(voucher.amount, "amount"),
        bucket=voucher.bucket or "main",
        expires_at=now + timedelta(days=days) if days else None,
    )


def _stored(value: _Field | None, field: str) -> _Field:
    """A field a card being redeemed must carry: a damaged card raises (retried, then dead-lettered)."""
    if value is None:
        raise KeyError(field)
    return value


def used(*, caller: str, recipient: str, reference: str, now: datetime) -> dict[str, Any]:
    """The fields that mark a voucher spent."""
    return {"status": "used", "used_by": caller, "used_for": recipient, "used_at": now, "used_reference": reference}


def wrong_codes(attempts: WrongCodes, now: datetime) -> list[datetime]:
    """The caller's wrong codes within the window."""
    return [at for at in attempts.keyed_at if now - at < WRONG_CODE_WINDOW]


def with_wrong_code(attempts: WrongCodes, now: datetime) -> WrongCodes:
    """The caller's (or card's) wrong codes after one more at `now` (older ones dropped)."""
    return WrongCodes((*wrong_codes(attempts, now), now))


def wrong_codes_document(attempts: WrongCodes, now: datetime) -> dict[str, Any]:
    """What is stored after a wrong code at `now`: Firestore's TTL deletes it once that code leaves the window."""
    return {"wrong_codes": list(attempts.keyed_at), store.EXPIRES_AT: now + WRONG_CODE_WINDOW}


def card_locked(card_attempts: WrongCodes, now: datetime) -> bool:
    """Too many wrong codes were tried on this card, by whoever, within the window."""
    return len(wrong_codes(card_attempts, now)) >= MAX_WRONG_CODES_PER_CARD


def notices(
    credit: VoucherCredit, *, reference: str, caller: Addressee, recipient: Addressee, balance: int, currency: Currency
) -> list[Notice]:
    """The caller's confirmation and the recipient's notice (naming who paid for them)."""
    money = currency.format
    confirmation = sms(
        caller,
        "transfer.voucher.activated",
        "caller",
        reference,
        amount=money(credit.amount),
        recipient=recipient.msisdn,
    )
    params = {
        "caller": caller.msisdn,
        "amount": money(credit.amount),
        "balance": money(balance),
        "bucket": ledger.bucket_label(credit.bucket, recipient.language),
    }
    if credit.expires_at is not None:
        notice = sms(
            recipient,
            "transfer.voucher.received_until",
            "recipient",
            reference,
            **params,
            expires_at=localtime.moment(credit.expires_at, recipient.zone, recipient.language),
        )
    else:
        notice = sms(recipient, "transfer.voucher.received", "recipient", reference, **params)
    return [confirmation, notice]


def refusal_notice(
    refusal: Refusal, *, reference: str, recipient: str, caller: Addressee, currency: Currency
) -> Notice:
    return sms(
        caller,
        "transfer.voucher.refused",
        "refused",
        reference,
        recipient=recipient,
        reason=reason(refusal, caller, currency),
    )


def record(
    request: VoucherRedeemRequested, outcome: VoucherCredit | Refusal, *, reference: str, event_id: str, now: datetime
) -> dict[str, Any]:
    common: dict[str, Any] = {
        "ref": reference,
        "event_id": event_id,
        "request_id": request.request_id,
        "caller": request.caller,
        "recipient": request.recipient,
        "now": now,
        "requested_at": request.requested_at,
    }
    if isinstance(outcome, Refusal):  # the serial as keyed: which card was tried
        return records.voucher_record(**common, serial=request.card_serial, refusal_code=outcome.code)
    return records.voucher_record(
        **common,
        serial=outcome.serial,
        amount=outcome.amount,
        bucket=outcome.bucket,
        credit_expires_at=outcome.expires_at,
    )
