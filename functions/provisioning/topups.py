"""Top-ups from the BSS (pure: no I/O): validity, the once-only record, the subscriber's notice.

The BSS's own reference identifies a recharge. `topups/{reference}` is created in the same
transaction as the credit, so a recharge the BSS sends twice (even under two event ids) is
credited once; the same reference for a different recharge is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from shared import localtime, store
from shared.events import TopUp
from shared.money import Currency

MAX_REFERENCE_LENGTH = 500  # Firestore document ids stop at 1,500 bytes; quoting can triple the length


def reference_key(reference: str) -> str:
    """The document id of a BSS reference ('/' and other path characters escaped)."""
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise ValueError(f"BSS reference longer than {MAX_REFERENCE_LENGTH} characters")
    return store.document_id(reference)


def expiry(topup: TopUp, *, occurred_at: datetime, now: datetime) -> datetime | None:
    """When the credited lot expires: validity runs from the recharge itself, not from its delivery.

    A message Pub/Sub retried for an hour gets no extra hour; a clock ahead of ours gets no
    extra time either.
    """
    if topup.validity_days is None:
        return None
    return min(occurred_at, now) + timedelta(days=topup.validity_days)


def same_recharge(record: dict, topup: TopUp) -> bool:
    """Whether the recharge stored under a reference is this one (not a reused reference)."""
    stored = (record.get("msisdn"), record.get("amount"), record.get("bucket"), record.get("validity_days"))
    return stored == (topup.msisdn, topup.amount, topup.bucket, topup.validity_days)


def record(topup: TopUp, *, entry_id: str, expires_at: datetime | None, event_id: str, now: datetime) -> dict:
    return {
        "reference": topup.reference,
        "msisdn": topup.msisdn,
        "amount": topup.amount,
        "bucket": topup.bucket,
        "validity_days": topup.validity_days,
        "channel": topup.channel,
        "expires_at": expires_at,
        "entry_id": entry_id,
        "event_id": event_id,
        "applied_at": now,
    }


def notice(
    topup: TopUp,
    *,
    balance: int,
    bucket_label: str,
    expires_at: datetime | None,
    currency: Currency,
    zone: tzinfo,
    language: str,
) -> dict:
    """The sms.send payload telling the subscriber what was credited and what they now hold."""
    params = {"amount": currency.format(topup.amount), "bucket": bucket_label, "balance": currency.format(balance)}
    if expires_at is not None:
        params["expires_at"] = localtime.moment(expires_at, zone, language)
    return {
        "to": topup.msisdn,
        "template": "topup.credited_until" if expires_at else "topup.credited",
        "params": params,
        "reference": f"topup:{topup.reference}",
    }


def with_offer(notice: dict, rendered: str, offer: str | None, language: str) -> dict:
    """The confirmation with an add-on offer under it (one SMS), or alone when there is none."""
    if offer is None:
        return notice
    params = {"notice": rendered, "offer": offer}
    return {**notice, "template": "topup.with_offer", "params": params, "language": language}
