"""The subscriber record the BSS and the HLR keep up to date (pure: no I/O).

`subscribers/{msisdn}` holds what the BSS says (customer and line type, language, tariff plan,
status, name, email address, the BSS's `subscriber_id` of the customer holding the number) and, under
`network_state`, what the HLR last said (attached or detached, when, roaming). Both sources
deliver out of order, so each keeps the time of the event it applied and an older event never
overwrites a newer one.

A number the BSS gives to a new owner (another `subscriber_id`, or `new_owner`) starts a new
record: nothing of the old owner stays but the network's state of the line, `owner_since` says
from when the number is the new owner's and `former_owner_archive` where the old owner is filed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import archive
from shared.events import NetworkAttachment, SubscriberProvisioned


def profile(
    existing: dict[str, Any] | None,
    update: SubscriberProvisioned,
    *,
    occurred_at: datetime,
    now: datetime,
    default_language: str,
) -> dict[str, Any] | None:
    """The fields to write for a BSS update, or None when a newer update is already stored."""
    existing = existing or {}
    applied = existing.get("bss_updated_at")
    if applied is not None and occurred_at < applied:
        return None
    return _fields(existing, update, occurred_at=occurred_at, now=now, default_language=default_language)


def _fields(
    existing: dict[str, Any],
    update: SubscriberProvisioned,
    *,
    occurred_at: datetime,
    now: datetime,
    default_language: str,
) -> dict[str, Any]:
    """The BSS's whole profile over `existing`; `language`, `name` and `email` left empty keep what is stored."""
    return {
        "msisdn": update.msisdn,
        "customer_type": update.customer_type,
        "line_type": update.line_type,
        "language": update.language or existing.get("language") or default_language,
        "tariff_plan": update.tariff_plan,
        "region": update.region,
        "attributes": dict(update.attributes),
        "status": update.status,
        "name": update.name if update.name is not None else existing.get("name"),
        "email": update.email if update.email is not None else existing.get("email"),
        "subscriber_id": update.subscriber_id or existing.get("subscriber_id"),
        "created_at": existing.get("created_at") or now,
        "updated_at": now,
        "bss_updated_at": occurred_at,
    }


def new_owner(existing: dict | None, update: SubscriberProvisioned, *, occurred_at: datetime) -> bool:
    """Whether this update gives a stored number to someone other than its stored owner.

    Two different subscriber ids say so; without both, the BSS's `new_owner` flag does, once: the
    same flagged update sent again (no later than the reassignment it made) changes no owner.
    """
    if not existing:
        return False
    stored = existing.get("subscriber_id")
    if update.subscriber_id is not None and stored is not None:
        return update.subscriber_id != stored
    since = existing.get("owner_since")
    return update.new_owner and (since is None or occurred_at > since)


def reassigned(
    existing: dict, update: SubscriberProvisioned, *, occurred_at: datetime, now: datetime, default_language: str
) -> dict:
    """The whole record of the number's new owner: nothing of the old one but the line's network state."""
    fields = {
        **_fields({}, update, occurred_at=occurred_at, now=now, default_language=default_language),
        "owner_since": occurred_at,
        "former_owner_archive": archive.archive_id(existing.get("subscriber_id"), update.msisdn, occurred_at),
    }
    if existing.get("network_state") is not None:
        fields["network_state"] = existing["network_state"]
    return fields


def former_owner(
    existing: dict,
    *,
    archive_id: str,
    account: dict | None,
    withdrawn: dict[str, int],
    new_subscriber_id: str | None,
    effective_at: datetime,
    now: datetime,
) -> dict:
    """`former_owners/{archive_id}`: the old owner's record and the money their account held when they left.

    The withdrawn money is the old owner's (a refund or a transfer to their new number is care's
    decision); the ledger entries of the withdrawal name this archive as their reference.
    """
    return {
        "archive_id": archive_id,
        "msisdn": existing["msisdn"],
        "subscriber_id": existing.get("subscriber_id"),
        "new_subscriber_id": new_subscriber_id,
        "effective_at": effective_at,
        "subscriber": existing,
        "account": account,
        "withdrawn": withdrawn,
        "withdrawn_total": sum(withdrawn.values()),
        "archived_at": now,
    }


def network_state(existing: dict | None, event: NetworkAttachment) -> dict | None:
    """The new `network_state`, or None when the stored one is as recent or newer."""
    if existing and existing.get("at") is not None and event.at <= existing["at"]:
        return None
    return {"state": event.state, "at": event.at, "roaming": event.roaming}
