"""A sender or recipient of a transfer as the rules and the policies see them (pure)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers


@functools.lru_cache(maxsize=65536)
def country_of(msisdn: str) -> str:
    """ISO country of an E.164 number ('' when unknown)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(msisdn, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


@dataclass(frozen=True, slots=True)
class Party:
    """A sender or recipient as the rules see them (from `subscribers/{msisdn}`)."""

    msisdn: str
    known: bool
    customer_type: str
    line_type: str
    status: str
    roaming: bool
    tariff_plan: str
    language: str
    transfers_barred: bool
    first_call_at: datetime | None
    first_topup_amount: int | None
    spent_since_first_topup: int
    country: str = ""  # ISO country of the number; derived from msisdn when not given
    owner_since: datetime | None = None  # since when the number is its present owner's (None: never recycled)

    def __post_init__(self) -> None:
        if not self.country:
            object.__setattr__(self, "country", country_of(self.msisdn))

    @classmethod
    def from_documents(cls, msisdn: str, subscriber: Mapping[str, Any] | None, language_default: str) -> Party:
        """The party from its subscriber document; None: a number this operator does not serve."""
        if subscriber is None:
            return cls(
                msisdn=msisdn,
                known=False,
                customer_type="",
                line_type="",
                status="",
                roaming=False,
                tariff_plan="",
                language=language_default,
                transfers_barred=False,
                first_call_at=None,
                first_topup_amount=None,
                spent_since_first_topup=0,
            )
        network = subscriber.get("network_state") or {}
        return cls(
            msisdn=msisdn,
            known=True,
            customer_type=subscriber.get("customer_type", "individual"),
            line_type=subscriber.get("line_type", "prepaid"),
            status=subscriber.get("status", "active"),
            roaming=bool(network.get("roaming", False)),
            tariff_plan=subscriber.get("tariff_plan", "standard"),
            language=subscriber.get("language") or language_default,
            transfers_barred=bool(subscriber.get("transfers_barred", False)),
            first_call_at=subscriber.get("first_call_at"),
            first_topup_amount=subscriber.get("first_topup_amount"),
            spent_since_first_topup=int(subscriber.get("spent_since_first_topup") or 0),
            owner_since=subscriber.get("owner_since"),
        )
