"""Usage reports and monthly statements of a credit account (pure: records in, text and figures out).

- `usage_csv`: one row per usage record (a call, an SMS, data), in the operator's time zone, the
  number called masked as the preset says (`mask_keep_last`), what the charging system rated,
  what the credits covered, what was short, and the purchases (lots) it was drawn from.
- `statement`: a calendar month of the account's ledger entries (operator's zone): the balance at
  its start, purchases, usage, expiry, and the balance at its end. Every figure is a sum of entries,
  and the closing balance is also read from the last entry's own `balance_after`, so a statement
  whose two agree (`balanced`) is the ledger's, to the unit.

Amounts in the CSV are decimal major units of the account's currency ("1500.00"), as spreadsheets
read them; the statement keeps minor units (the API's unit) and formats them for people.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal

from functions.credits.documents import Usage
from shared.ledger_core import Entry
from shared.localtime import month_of
from shared.money import Currency

CSV_COLUMNS = (
    "time",
    "user",
    "type",
    "destination",
    "duration_seconds",
    "units",
    "rated",
    "credits_used",
    "shortfall",
    "currency",
    "lots",
    "status",
)


def mask(destination: str | None, keep_last: int) -> str:
    """The number called with every digit but the last `keep_last` hidden: 998901234567 -> *********567."""
    if not destination:
        return ""
    digits = sum(character.isdigit() for character in destination)
    shown_from = digits - keep_last
    out, seen = [], 0
    for character in destination:
        if character.isdigit():
            out.append(character if seen >= shown_from else "*")
            seen += 1
        else:
            out.append(character)
    return "".join(out)


def major(minor: int, currency: Currency) -> str:
    """Minor units as a plain decimal of major units: 150000 -> '1500.00' (UZS has two decimals)."""
    return str(Decimal(minor).scaleb(-currency.minor_unit).quantize(Decimal(1).scaleb(-currency.minor_unit)))


# A cell starting with one of these is a formula (or the start of one) to a spreadsheet: Excel would
# run "=HYPERLINK(...)" and turn "+998..." into a number. A leading ' makes it text, shown as written.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: '-prefixed when it would start a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def usage_rows(records: Iterable[Usage], *, zone: tzinfo, keep_last: int, currency: Currency) -> list[dict[str, str]]:
    """The CSV's rows, oldest first."""
    rows = []
    for usage in sorted(records, key=lambda record: (record.at, record.reference)):
        rows.append(
            {
                "time": usage.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                "user": usage.msisdn,
                "type": usage.kind,
                "destination": mask(usage.destination, keep_last),
                "duration_seconds": "" if usage.duration_seconds is None else str(usage.duration_seconds),
                "units": "" if usage.units is None else str(usage.units),
                "rated": major(usage.amount, currency),
                "credits_used": major(usage.debited, currency) if usage.settled else "",
                "shortfall": major(usage.shortfall, currency) if usage.settled else "",
                "currency": currency.code,
                "lots": ";".join(f"{draw.lot_id}:{major(draw.amount, currency)}" for draw in usage.lots),
                "status": "settled" if usage.settled else "pending",
            }
        )
    return rows


def usage_csv(records: Iterable[Usage], *, zone: tzinfo, keep_last: int, currency: Currency) -> str:
    """The usage export: a header, then a row per record (RFC 4180, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    rows = usage_rows(records, zone=zone, keep_last=keep_last, currency=currency)
    writer.writerows({column: as_text(cell) for column, cell in row.items()} for row in rows)
    return out.getvalue()


@dataclass(frozen=True)
class Statement:
    """One calendar month of a credit account, in minor units."""

    account_id: str
    month: str  # YYYY-MM, the operator's zone
    opening: int
    purchases: int
    usage: int
    expiry: int
    closing: int  # the last entry's balance_after (the opening when the month has none)
    purchase_count: int
    entry_count: int

    @property
    def balanced(self) -> bool:
        """Whether opening + purchases - usage - expiry is the balance the ledger states at the month's end."""
        return self.opening + self.purchases - self.usage - self.expiry == self.closing

    def as_json(self) -> dict[str, object]:
        return {
            "month": self.month,
            "opening": self.opening,
            "purchases": self.purchases,
            "usage": self.usage,
            "expiry": self.expiry,
            "closing": self.closing,
            "purchase_count": self.purchase_count,
            "entry_count": self.entry_count,
            "balanced": self.balanced,
        }

    def lines(self, currency: Currency) -> list[str]:
        """The statement as care reads it."""
        money = currency.format
        return [
            f"statement of {self.account_id} for {self.month} ({self.entry_count} ledger entries)",
            f"  opening balance {money(self.opening):>20}",
            f"  purchases       {money(self.purchases):>20}  ({self.purchase_count})",
            f"  usage          -{money(self.usage):>20}",
            f"  expired        -{money(self.expiry):>20}",
            f"  closing balance {money(self.closing):>20}" + ("" if self.balanced else "  DOES NOT ADD UP"),
        ]


def statement(account_id: str, entries: Iterable[Entry], month: str, zone: tzinfo) -> Statement:
    """The month's statement from the account's ledger entries (all of them, or at least up to the month's end)."""
    ordered = sorted(entries, key=lambda entry: entry.id)
    before = [entry for entry in ordered if month_of(entry.at, zone) < month]
    during = [entry for entry in ordered if month_of(entry.at, zone) == month]
    opening = before[-1].balance_after if before else 0
    purchases = [entry.delta for entry in during if entry.kind == "credit"]
    return Statement(
        account_id=account_id,
        month=month,
        opening=opening,
        purchases=sum(purchases),
        usage=-sum(entry.delta for entry in during if entry.kind == "debit"),
        expiry=-sum(entry.delta for entry in during if entry.kind == "expiry"),
        closing=during[-1].balance_after if during else opening,
        purchase_count=len(purchases),
        entry_count=len(during),
    )
