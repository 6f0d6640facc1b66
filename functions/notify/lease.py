"""The right to call a provider (the carrier, SES) for one record, held for a while by one delivery."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class SendInProgress(Exception):
    """Another delivery of the same event is calling the provider right now (retry later)."""


def take(record: dict[str, Any], now: datetime, duration: timedelta, what: str) -> dict[str, Any]:
    """The fields that give this delivery the lease; SendInProgress while another one holds it.

    Pub/Sub may hand the same event to two instances at once; the lease keeps the second one from
    sending a second time while the first is still waiting for the provider's answer. A lease
    outlives the provider's timeout, so one that expired belongs to an attempt that died.
    """
    lease = record.get("send_lease_until")
    if lease is not None and lease > now:
        raise SendInProgress(f"{what} is being handed over until {lease}")
    return {
        "send_attempts": record.get("send_attempts", 0) + 1,
        "last_attempt_at": now,
        "send_lease_until": now + duration,
    }
