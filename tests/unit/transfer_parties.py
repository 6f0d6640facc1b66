"""Subscribers, currencies and a `decide` shorthand shared by the transfer policy tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from functions.transfers.policy import load_preset
from functions.transfers.rules import History, Party, decide
from shared.money import Currency

UZS = Currency(code="UZS", minor_unit=2, symbol="so'm")
IQD = Currency(code="IQD", minor_unit=3)
SGD = Currency(code="SGD", minor_unit=2, symbol="S$")
CURRENCY_OF = {"mobiuz-direct": UZS, "zain-iraq-standard": IQD, "zain-alamodak": IQD,
               "m1-msend-singapore": SGD, "m1-msend-international": SGD, "beeline-paycard": UZS}
ZONE_OF = {"mobiuz-direct": "Asia/Tashkent", "zain-iraq-standard": "Asia/Baghdad", "zain-alamodak": "Asia/Baghdad",
           "m1-msend-singapore": "Asia/Singapore", "m1-msend-international": "Asia/Singapore",
           "beeline-paycard": "Europe/Moscow"}
NOW = datetime(2026, 3, 14, 9, 30, tzinfo=timezone.utc)


def preset(name: str):
    return load_preset(name, CURRENCY_OF[name], timezone=ZONE_OF[name])


def party(msisdn: str, **overrides) -> Party:
    """An active individual prepaid subscriber at home who has made a call and spent a large first top-up."""
    fields = dict(msisdn=msisdn, known=True, customer_type="individual", line_type="prepaid", status="active",
                  roaming=False, tariff_plan="standard", language="en", transfers_barred=False,
                  first_call_at=datetime(2025, 1, 1, tzinfo=timezone.utc), first_topup_amount=None,
                  spent_since_first_topup=0)
    fields.update(overrides)
    return Party(**fields)


def stranger(msisdn: str) -> Party:
    """A number this operator does not serve."""
    return Party.from_documents(msisdn, None, "en")


def attempt(policy, *, sender: Party, recipient: Party, amount: int, balances: dict[str, int],
            sender_history: History = History(), recipient_history: History = History(), now: datetime = NOW,
            requested_at: datetime | None = None):
    return decide(policy, sender=sender, recipient=recipient, amount=amount, balances=balances,
                  sender_history=sender_history, recipient_history=recipient_history, now=now,
                  requested_at=requested_at)


__all__ = ["UZS", "IQD", "SGD", "NOW", "preset", "party", "stranger", "attempt", "replace"]
