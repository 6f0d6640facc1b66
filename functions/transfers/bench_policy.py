"""Pure policy decisions per second in one process (`make bench`): a mix of accepted and refused requests."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.transfers.policy import load_preset
from functions.transfers.rules import History, Movement, Party, decide
from shared.money import Currency

_CURRENCIES = {
    "UZS": Currency(code="UZS", minor_unit=2),
    "IQD": Currency(code="IQD", minor_unit=3),
    "SGD": Currency(code="SGD", minor_unit=2),
}
_PRESETS = {
    "mobiuz-direct": ("UZS", "Asia/Tashkent", "+998901000001", "+998901000002"),
    "zain-iraq-standard": ("IQD", "Asia/Baghdad", "+9647801000001", "+9647801000002"),
    "zain-alamodak": ("IQD", "Asia/Baghdad", "+9647801000003", "+9647801000004"),
    "m1-msend-singapore": ("SGD", "Asia/Singapore", "+6591000001", "+6591000002"),
    "m1-msend-international": ("SGD", "Asia/Singapore", "+6591000003", "+639171234567"),
}


def _party(msisdn: str, **overrides: Any) -> Party:
    fields: dict[str, Any] = {
        "msisdn": msisdn,
        "known": True,
        "customer_type": "individual",
        "line_type": "prepaid",
        "status": "active",
        "roaming": False,
        "tariff_plan": "standard",
        "language": "en",
        "transfers_barred": False,
        "first_call_at": datetime(2025, 1, 1, tzinfo=UTC),
        "first_topup_amount": 10_000_000,
        "spent_since_first_topup": 10_000_000,
    }
    fields.update(overrides)
    return Party(**fields)


def requests() -> list[dict]:
    """Per preset: an accepted transfer, a near-limit one with history, and refusals for amount, balance, bar."""
    now = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    mix = []
    for name, (code, zone, sender_no, recipient_no) in _PRESETS.items():
        policy = load_preset(name, _CURRENCIES[code], timezone=zone)
        if policy.amount_choices:
            amount = policy.amount_choices[0]
        else:
            assert policy.amounts is not None and policy.amounts.range is not None  # no list of amounts: a range
            amount = policy.amounts.range.min
        plan = "alamodak" if name == "zain-alamodak" else "standard"
        sender = _party(sender_no, tariff_plan=plan)
        recipient = (
            _party(recipient_no) if name != "m1-msend-international" else Party.from_documents(recipient_no, None, "en")
        )
        rich = {"main": amount * 1000}
        history = History(
            sent=tuple(Movement(now - timedelta(hours=h * 5), amount) for h in range(4)),
            received=tuple(Movement(now - timedelta(hours=h * 7), amount) for h in range(3)),
        )
        base = {
            "policy": policy,
            "sender": sender,
            "recipient": recipient,
            "amount": amount,
            "balances": rich,
            "sender_history": History(),
            "recipient_history": History(),
            "now": now,
        }
        mix += [
            base,
            {**base, "sender_history": history, "recipient_history": history},
            {**base, "amount": amount + 7},
            {**base, "balances": {"main": amount}},
            {**base, "sender": replace(sender, transfers_barred=True)},
        ]
    return mix


def decisions_per_second(seconds: float = 2.0) -> float:
    """How many `decide` calls one process makes per second over the request mix."""
    mix = requests()
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    for request in itertools.cycle(mix):
        decide(**request)
        done += 1
        if done % 1000 == 0 and time.perf_counter() >= deadline:
            break
    return done / (time.perf_counter() - started)


if __name__ == "__main__":
    print(f"{decisions_per_second():,.0f} transfer decisions/s")
