"""The subscriber record the BSS and the HLR keep up to date (pure: no I/O).

`subscribers/{msisdn}` holds what the BSS says (customer and line type, language, tariff plan,
status, name) and, under `network_state`, what the HLR last said (attached or detached, when,
roaming). Both sources deliver out of order, so each keeps the time of the event it applied and
an older event never overwrites a newer one.
"""

from __future__ import annotations

from datetime import datetime

from shared.events import NetworkAttachment, SubscriberProvisioned


def profile(existing: dict | None, update: SubscriberProvisioned, *, occurred_at: datetime, now: datetime,
            default_language: str) -> dict | None:
    """The fields to write for a BSS update, or None when a newer update is already stored.

    The BSS sends the whole profile; `language` and `name` left empty keep what is stored.
    """
    existing = existing or {}
    applied = existing.get("bss_updated_at")
    if applied is not None and occurred_at < applied:
        return None
    return {
        "msisdn": update.msisdn,
        "customer_type": update.customer_type,
        "line_type": update.line_type,
        "language": update.language or existing.get("language") or default_language,
        "tariff_plan": update.tariff_plan,
        "status": update.status,
        "name": update.name if update.name is not None else existing.get("name"),
        "created_at": existing.get("created_at") or now,
        "updated_at": now,
        "bss_updated_at": occurred_at,
    }


def network_state(existing: dict | None, event: NetworkAttachment) -> dict | None:
    """The new `network_state`, or None when the stored one is as recent or newer."""
    if existing and existing.get("at") is not None and event.at <= existing["at"]:
        return None
    return {"state": event.state, "at": event.at, "roaming": event.roaming}
