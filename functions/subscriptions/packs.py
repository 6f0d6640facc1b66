"""Buying a pack, pure: when its allowances expire, what they grant, what a repurchase carries over, the limits.

M1's rules are fields of the pack (config.Pack), so any operator can use them:
- carry-over: a pack bought again while an identical one is still live takes the remaining
  allowance with it to the new expiry, and that expiry never reaches past `max_validity_days`
  from the purchase (the remaining validity is extended, up to the cap);
- a limit on identical packs live at once (`max_active`, M1 roaming: 2), with one more allowed
  only while the pack's data bucket holds less than `extra_when_below_mb` (M1: a 3rd below 2 GB).

The caller reads the subscriber's book and ledger, calls `decide_purchase`, and applies the
answer in the same transaction: credit each grant as a lot expiring at `expires_at`, and move
each carried amount (debit the bucket, which spends the earliest-expiring lots first, then credit
it again expiring at `expires_at`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.subscriptions.config import Pack
from functions.subscriptions.documents import Item
from functions.subscriptions.refusal import Refusal

DATA_KIND = "data_mb"  # allowances counted in MB (local or roaming bucket): what extra_when_below_mb reads


@dataclass(frozen=True)
class PackPurchase:
    """A purchase allowed: the allowances' new expiry, what is granted, and what moves over from live packs."""

    expires_at: datetime
    grants: list[tuple[str, int]]  # (bucket, amount) credited as new lots expiring at expires_at
    carried: list[tuple[str, int]]  # (bucket, amount) already held, moved to expire at expires_at
    superseded: tuple[str, ...] = ()  # ids of the live identical items whose remainder this one took over


def live_identical(pack: Pack, items: list[Item], now: datetime) -> list[Item]:
    """The subscriber's items of this pack whose allowances have not expired at `now`."""
    return [
        item
        for item in items
        if item.product == pack.id and item.live and (item.expires_at is None or item.expires_at > now)
    ]


def data_left(pack: Pack, balances: Mapping[str, int]) -> int:
    """MB left in the pack's data buckets (the roaming rule reads it)."""
    buckets = {allowance.bucket for allowance in pack.allowances if allowance.kind == DATA_KIND}
    return sum(balances.get(bucket, 0) for bucket in buckets)


def _limit_refusal(pack: Pack, live: list[Item], balances: Mapping[str, int]) -> Refusal | None:
    """Refused when `max_active` identical packs are live and the extra one is not allowed by the data left."""
    if pack.max_active is None or len(live) < pack.max_active:
        return None
    below = pack.extra_when_below_mb
    if below is not None and len(live) == pack.max_active and data_left(pack, balances) < below:
        return None
    return Refusal(
        reason="pack_limit",
        text="subscriptions.refused.pack_limit",
        params={"limit": pack.max_active, "below_mb": below, "data_left_mb": data_left(pack, balances)},
    )


def _expiry(pack: Pack, live: list[Item], now: datetime) -> datetime:
    """A fresh pack's validity; with carry-over, the latest live expiry extended by it; never past the cap."""
    start = now
    if pack.carry_over:
        start = max([now, *(item.expires_at for item in live if item.expires_at is not None)])
    expires_at = start + timedelta(days=pack.validity_days)
    if pack.max_validity_days is not None:
        expires_at = min(expires_at, now + timedelta(days=pack.max_validity_days))
    return expires_at


def _carried(pack: Pack, live: list[Item], balances: Mapping[str, int]) -> list[tuple[str, int]]:
    """What the live identical packs still hold, per bucket: never more than they granted together."""
    if not pack.carry_over or not live:
        return []
    carried = []
    for allowance in pack.allowances:
        granted = allowance.amount * len(live)
        remaining = min(max(balances.get(allowance.bucket, 0), 0), granted)
        if remaining > 0:
            carried.append((allowance.bucket, remaining))
    return carried


def decide_purchase(
    pack: Pack, *, now: datetime, live_same: list[Item], balances: Mapping[str, int]
) -> PackPurchase | Refusal:
    """Whether `pack` can be bought at `now`, given the identical packs the subscriber has and their bucket balances.

    `live_same`: the subscriber's items of this pack (expired ones are ignored); `balances`: the
    subscriber's balance of each allowance bucket (MB, minutes, SMS).
    """
    live = live_identical(pack, live_same, now)
    refusal = _limit_refusal(pack, live, balances)
    if refusal is not None:
        return refusal
    return PackPurchase(
        expires_at=_expiry(pack, live, now),
        grants=[(allowance.bucket, allowance.amount) for allowance in pack.allowances],
        carried=_carried(pack, live, balances),
        superseded=tuple(item.id for item in live) if pack.carry_over else (),
    )
