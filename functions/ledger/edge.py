"""The balance check at the edge (`*100#`, the BALANCE keyword): an account's buckets, each with its
nearest expiry, as a subscriber reads it.

Works on a shared.ledger.Account (buckets: name -> Bucket with `balance` and `lots`, earliest
expiry first, each lot with `amount` and `expires_at`), as the edge read it for the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from functions.edge import api
from functions.edge.api import Text
from shared import ledger, localtime, texts
from shared.money import Currency
from shared.operator import OperatorProfile

# Buckets every subscriber recognises come first, in this order; others follow by name.
_BUCKET_ORDER = ("main", "bonus")


def nearest_expiry(lots: Iterable[ledger.Lot]) -> tuple[int, datetime] | None:
    """Amount expiring at the earliest expiry among the lots, and when; None if none expire."""
    dated = [(lot.expires_at, lot.amount) for lot in lots if lot.expires_at is not None and lot.amount > 0]
    if not dated:
        return None
    first = min(expires_at for expires_at, _ in dated)
    return sum(amount for expires_at, amount in dated if expires_at == first), first


def _ordered(buckets: Mapping[str, Any]) -> list[str]:
    known = [name for name in _BUCKET_ORDER if name in buckets]
    return known + sorted(name for name in buckets if name not in _BUCKET_ORDER)


def bucket_line(name: str, bucket: ledger.Bucket, language: str, currency: Currency, zone: tzinfo) -> str:
    params = {
        "bucket": ledger.bucket_label(name, language),
        "amount": ledger.bucket_amount(name, bucket.balance, language, currency),
    }
    expiring = nearest_expiry(bucket.lots)
    if expiring is None:
        return texts.render("edge.balance.line", language, **params)
    amount, until = expiring
    until_text = localtime.moment(until, zone, language)
    if amount >= bucket.balance:
        return texts.render("edge.balance.line_valid_until", language, until=until_text, **params)
    return texts.render(
        "edge.balance.line_part_expires",
        language,
        until=until_text,
        expiring=ledger.bucket_amount(name, amount, language, currency),
        **params,
    )


def report(account: ledger.Account | None, language: str, currency: Currency, zone: tzinfo) -> Text:
    """The balance screen/SMS: the main bucket always, other buckets when not empty."""
    buckets = dict(account.buckets) if account is not None else {}
    shown = [name for name in _ordered(buckets) if name == "main" or buckets[name].balance != 0]
    lines = [bucket_line(name, buckets[name], language, currency, zone) for name in shown]
    if not lines:  # provisioned but never credited: the main bucket at zero
        lines = [
            texts.render(
                "edge.balance.line", language, bucket=ledger.bucket_label("main", language), amount=currency.format(0)
            )
        ]
    return Text("edge.balance.report", {"lines": "\n".join(lines)})


SERVICE = "balance_check"  # the service's name in the operator profile's `services`
PRIORITY = 10  # first in the help screens

# The BALANCE keyword in every platform language.
BALANCE_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("BALANCE", "BAL"),
    "ru": ("БАЛАНС", "БАЛ", "ОСТАТОК"),
    "uz": ("BALANS", "HISOB", "QOLDIQ", "ҲИСОБ"),  # Latin and Cyrillic
    "ky": ("БАЛАНС", "БАЛ", "КАЛДЫК"),
    "zh": ("余额", "查余额", "查询余额", "餘額"),  # simplified and traditional
}


def _caller_report(caller: api.Caller, account: ledger.Account | None, profile: OperatorProfile) -> Text:
    return report(account, caller.language, profile.currency, localtime.zone_for(caller.msisdn, profile.timezone))


def balance_check(request: api.Request[api.UssdRequest]) -> api.Reply:
    """`*100#`: every bucket with its nearest expiry, on one final screen."""
    caller = request.caller
    return api.Reply.end(_caller_report(caller, request.account, request.profile).render(caller.language))


def balance_sms(request: api.Request[api.SmsMessage]) -> Text:
    """BALANCE: the same report by SMS."""
    return _caller_report(request.caller, request.account, request.profile)


def entries(profile: OperatorProfile) -> api.ServiceEntries | None:
    """The balance check on the profile's code and keyword; None when the profile switches it off."""
    if not profile.services.get(SERVICE):
        return None
    return api.ServiceEntries(
        ussd=(
            api.UssdService(
                code=profile.short_codes.balance,
                name="edge.service.balance",
                handler=balance_check,
                needs_account=True,
                priority=PRIORITY,
            ),
        ),
        sms_keywords=(
            api.SmsKeywords(
                "balance",
                BALANCE_WORDS,
                api.SmsService(balance_sms, needs_account=True, usage=Text("edge.help.sms.balance")),
                priority=PRIORITY,
            ),
        ),
    )
