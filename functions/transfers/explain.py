"""A refusal in its reader's words (pure): the reason, then what would work.

`rules.decide` returns a code and raw values (minor units, ISO times, counts); this turns them
into one text in the reader's language: `transfer.refused.<code>.<variant>` when the refusal has a
variant (`reason`, `step`) and that text exists, else `transfer.refused.<code>`, followed by
`transfer.refused.resets` (when a limit frees up) and `transfer.refused.max_sendable` (the largest
amount that would pass now). The USSD answer (edge) and the SMS (execution) both use `reason`,
so the subscriber reads the same words on both.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from functions.transfers.rules import Refusal
from shared import localtime, texts
from shared.money import Currency

MONEY = frozenset(
    {
        "amount",
        "minimum",
        "maximum",
        "must_spend",
        "spent",
        "left_to_spend",
        "balance",
        "required",
        "fee",
        "max_sendable",
        "debit",
        "remaining",
    }
)
LIMIT_VALUES = frozenset({"limit", "used", "left"})  # money on *_limit codes, numbers of transfers on *_count
TIMES = frozenset({"resets_at", "since"})
VARIANTS = ("reason", "step")  # params that pick a more specific text
MINIMUM_KEPT = {"below_minimum_balance": 0, "balance_not_above_minimum": 1}  # code -> what "more than" adds


def reason(refusal: Refusal, *, currency: Currency, language: str, zone: tzinfo, hotline: str) -> str:
    """The whole explanation of a refusal, ready to show on USSD or to put in an SMS.

    `hotline` is the care number some reasons quote (the operator profile's short_codes.hotline).
    """
    refusal = Refusal(refusal.code, {**refusal.params, **what_would_remain(refusal)})
    params = {
        name: value_text(refusal.code, name, value, currency=currency, language=language, zone=zone)
        for name, value in refusal.params.items()
    }
    params.setdefault("hotline", hotline)
    sentences = [texts.render(text_key(refusal), language, **params)]
    if refusal.params.get("resets_at"):
        sentences.append(texts.render("transfer.refused.resets", language, when=params["resets_at"]))
    if refusal.params.get("max_sendable"):
        sentences.append(texts.render("transfer.refused.max_sendable", language, amount=params["max_sendable"]))
    return " ".join(sentences)


def what_would_remain(refusal: Refusal) -> dict[str, Any]:
    """For a minimum-balance refusal: what the transfer and fee take (`debit`) and what the balance would
    fall to (`remaining`); the `uncovered` variant when the balance does not even cover the debit.

    `required` is the debit plus the minimum (plus one unit for "more than"), so both follow from it.
    """
    if refusal.code not in MINIMUM_KEPT or not {"required", "minimum", "balance"} <= set(refusal.params):
        return {}
    required, minimum, balance = (int(refusal.params[name]) for name in ("required", "minimum", "balance"))
    debit = required - minimum - MINIMUM_KEPT[refusal.code]
    remaining = balance - debit
    return {"debit": debit, "remaining": remaining, **({"reason": "uncovered"} if remaining < 0 else {})}


def text_key(refusal: Refusal) -> str:
    """The most specific text there is for this refusal."""
    base = f"transfer.refused.{refusal.code}"
    for name in VARIANTS:
        variant = refusal.params.get(name)
        if variant and f"{base}.{variant}" in texts.catalog():
            return f"{base}.{variant}"
    return base


def value_text(code: str, name: str, value: Any, *, currency: Currency, language: str, zone: tzinfo) -> str:
    """One parameter as its reader writes it: money, a local time, or as it is."""
    if isinstance(value, int) and (name in MONEY or (name in LIMIT_VALUES and code.endswith("_limit"))):
        return currency.format(value)
    if name in TIMES and value:
        return localtime.moment(datetime.fromisoformat(str(value)), zone, language)
    return str(value)
