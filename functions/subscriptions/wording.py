"""How a product reads in a subscriber's SMS: its name, price and period, allowances and dates, in their language."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from functions.subscriptions.config import Pack, Subscription
from functions.subscriptions.refusal import Refusal
from shared import ledger, texts
from shared.money import Currency

MONEY_PARAMS = ("price", "balance", "fee", "min_balance", "next_fee")  # refusal and receipt amounts in minor units


def period(product: Subscription | Pack, language: str) -> str:
    """'a month', 'в день', …; a pack bought once: 'once'."""
    return texts.render(f"subscriptions.period.{product.period or 'once'}", language)


def allowances(granted: Iterable[tuple[str, int]], language: str, currency: Currency) -> str:
    """'1024 MB, 100 min': each (bucket, amount) in its bucket's unit (shared/ledger.bucket_amount)."""
    return ", ".join(ledger.bucket_amount(bucket, amount, language, currency) for bucket, amount in granted)


def day(when: datetime, zone: tzinfo, language: str) -> str:
    """The local date: '16/04/2026' (en), '16.04.2026' (ru, uz, ky), '2026年04月16日' (zh)."""
    local = when.astimezone(zone)
    return texts.render(
        "subscriptions.day", language, day=f"{local.day:02d}", month=f"{local.month:02d}", year=local.year
    )


def money(params: dict[str, Any], currency: Currency) -> dict[str, Any]:
    """`params` with the amounts in minor units written in the operator's currency."""
    return {
        key: currency.format(value) if key in MONEY_PARAMS and isinstance(value, int) else value
        for key, value in params.items()
    }


def refusal_text(refusal: Refusal) -> str:
    """The text key of a refusal: the pack limit names its data threshold, a free plan change no fee."""
    if refusal.reason == "pack_limit" and refusal.params.get("below_mb") is not None:
        return "subscriptions.refused.pack_limit_below"
    if refusal.text == "subscriptions.refused.plan_balance" and not refusal.params.get("fee"):
        return "subscriptions.refused.plan_balance_free"  # a free change: no fee to name
    return refusal.text
