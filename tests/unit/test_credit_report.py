"""Usage CSV and monthly statements of a credit account: masked numbers, the lots drawn from, and
statements whose every figure is the ledger's (month after month, to the unit)."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st
from pydantic import ValidationError

from functions.credits import report
from functions.credits.documents import LotDraw, Usage
from shared import operator
from shared.events import UsageCharged
from shared.ledger_core import Account, Bucket, InsufficientFunds

TASHKENT = ZoneInfo("Asia/Tashkent")
UZS = operator.current().currency
CREDITS = "credits"


def usage(reference: str, at: datetime, **fields) -> Usage:
    base = {"reference": reference, "account_id": "acme", "msisdn": "+998901234567", "kind": "call",
            "destination": "998712345678", "duration_seconds": 95, "amount": 150_000, "at": at,
            "event_id": f"e-{reference}"}
    return Usage.model_validate({**base, **fields})


# --- masking and the CSV ----------------------------------------------------------------------

def test_a_number_called_shows_only_its_last_digits():
    assert report.mask("998712345678", 3) == "*********678"
    assert report.mask("+998712345678", 4) == "+********5678"
    assert report.mask("998712345678", 0) == "************"
    assert report.mask("12", 3) == "12"
    assert report.mask(None, 3) == ""


def test_the_csv_has_a_row_per_record_in_the_operators_time_with_the_lots_drawn_from():
    settled = usage("r2", datetime(2026, 11, 30, 19, 30, tzinfo=UTC), settled=True, debited=120_000,
                    shortfall=30_000, lots=[LotDraw(lot_id="000000000001", amount=100_000),
                                            LotDraw(lot_id="000000000004", amount=20_000)])
    pending = usage("r1", datetime(2026, 11, 30, 10, 0, tzinfo=UTC), kind="sms", destination="+998901112233",
                    duration_seconds=None, units=2, amount=40_000)
    text = report.usage_csv([settled, pending], zone=TASHKENT, keep_last=3, currency=UZS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(report.CSV_COLUMNS)
    assert [row["time"] for row in rows] == ["2026-11-30 15:00:00", "2026-12-01 00:30:00"]   # oldest first, UTC+5
    sms, call = rows
    assert sms == {"time": "2026-11-30 15:00:00", "user": "'+998901234567", "type": "sms",
                   "destination": "'+*********233", "duration_seconds": "", "units": "2", "rated": "400.00",
                   "credits_used": "", "shortfall": "", "currency": "UZS", "lots": "", "status": "pending"}
    assert call["destination"] == "*********678" and call["duration_seconds"] == "95"
    assert (call["rated"], call["credits_used"], call["shortfall"]) == ("1500.00", "1200.00", "300.00")
    assert call["lots"] == "000000000001:1000.00;000000000004:200.00" and call["status"] == "settled"


@pytest.mark.parametrize("destination", ["=HYPERLINK(\"http://x\")", "@SUM(1)", "-1+2", "998 71 234", "\t998", ""])
def test_a_number_called_is_digits_only_so_no_report_cell_can_be_a_formula(destination):
    event = {"msisdn": "+998901234567", "kind": "call", "amount": 1, "reference": "r", "at": "2026-11-30T10:00:00Z",
             "destination": destination}
    with pytest.raises(ValidationError, match="destination"):
        UsageCharged.model_validate(event)
    with pytest.raises(ValidationError, match="destination"):
        usage("r1", datetime(2026, 11, 30, 10, 0, tzinfo=UTC), destination=destination)
    assert UsageCharged.model_validate({**event, "destination": "+998712345678"}).destination == "+998712345678"


@pytest.mark.parametrize("cell", ["=1+2", "+998", "-5", "@A1", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_read_as_a_formula_is_written_as_text(cell):
    assert report.as_text(cell) == "'" + cell
    assert report.as_text("998" + cell) == "998" + cell


def test_every_csv_cell_that_would_start_a_formula_is_written_as_text():
    formula_looking = usage("r1", datetime(2026, 11, 30, 10, 0, tzinfo=UTC), destination="+998712345678",
                            settled=True, debited=100, shortfall=149_900, lots=[LotDraw(lot_id="-1", amount=100)])
    row = next(csv.DictReader(io.StringIO(report.usage_csv([formula_looking], zone=TASHKENT, keep_last=3,
                                                           currency=UZS))))
    assert (row["user"], row["destination"], row["lots"]) == ("'+998901234567", "'+*********678", "'-1:1.00")
    assert not any(cell.startswith(report._FORMULA_STARTS) for cell in row.values())


# --- statements -------------------------------------------------------------------------------

def credits_account(at: datetime) -> Account:
    return Account(msisdn="acme", buckets={CREDITS: Bucket(CREDITS)}, created_at=at, updated_at=at)


def test_a_statement_sums_the_months_entries_and_closes_on_the_ledgers_own_balance():
    start = datetime(2026, 10, 20, tzinfo=UTC)
    account, entries = credits_account(start), []
    entries.append(account.credit(CREDITS, 500_000, expires_at=start + timedelta(days=365), reason="purchase",
                                  reference="c1", at=start))
    entries.append(account.debit(CREDITS, 120_000, reason="usage", reference="b1", at=start + timedelta(days=5)))
    # 30 Nov 20:00 UTC is already 1 December in Tashkent: December's.
    december = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    entries.append(account.credit(CREDITS, 1_000_000, expires_at=december + timedelta(days=365), reason="purchase",
                                  reference="c2", at=december))
    entries.append(account.debit(CREDITS, 300_000, reason="usage", reference="b2", at=december + timedelta(days=3)))
    entries.extend(account.expire(december + timedelta(days=400)))   # both lots, in January 2028

    november = report.statement("acme", entries, "2026-11", TASHKENT)
    assert (november.opening, november.purchases, november.usage, november.expiry, november.closing) == \
        (380_000, 0, 0, 0, 380_000)
    december_statement = report.statement("acme", entries, "2026-12", TASHKENT)
    assert (december_statement.opening, december_statement.purchases, december_statement.usage,
            december_statement.expiry, december_statement.closing) == (380_000, 1_000_000, 300_000, 0, 1_080_000)
    assert december_statement.purchase_count == 1 and december_statement.entry_count == 2
    assert december_statement.balanced
    january = report.statement("acme", entries, "2028-01", TASHKENT)
    assert (january.opening, january.expiry, january.closing) == (1_080_000, 1_080_000, 0) and january.balanced


def test_a_statement_whose_entries_do_not_add_up_says_so():
    start = datetime(2026, 12, 2, tzinfo=UTC)
    account = credits_account(start)
    bought = account.credit(CREDITS, 500_000, expires_at=None, reason="purchase", reference="c1", at=start)
    account.debit(CREDITS, 100_000, reason="usage", reference="lost", at=start)          # an entry gone missing
    spent = account.debit(CREDITS, 50_000, reason="usage", reference="b2", at=start)
    broken = report.statement("acme", [bought, spent], "2026-12", TASHKENT)
    assert not broken.balanced and "DOES NOT ADD UP" in broken.lines(UZS)[-1]


operations = st.lists(
    st.tuples(st.sampled_from(["buy", "use", "expire"]), st.integers(1, 2_000_000), st.integers(0, 24 * 200)),
    max_size=40,
)


@given(operations)
def test_statements_chain_month_to_month_and_every_figure_is_the_ledgers(steps):
    """Whatever was bought, used and expired, each month closes on the ledger's balance and opens the next."""
    clock = datetime(2026, 1, 1, tzinfo=UTC)
    account, entries = credits_account(clock), []
    for kind, amount, hours in steps:
        clock += timedelta(hours=hours)
        if kind == "buy":
            entries.append(account.credit(CREDITS, amount, expires_at=clock + timedelta(days=90),
                                          reason="purchase", reference="c", at=clock))
        elif kind == "use":
            with contextlib.suppress(InsufficientFunds):   # spending never goes below zero
                entries.append(account.debit(CREDITS, amount, reason="usage", reference="u", at=clock))
        else:
            entries.extend(account.expire(clock))
    months = sorted({f"{m.year:04d}-{m.month:02d}" for m in
                     (e.at.astimezone(TASHKENT) for e in entries)} | {"2026-01"})
    statements = [report.statement("acme", entries, month, TASHKENT) for month in months]
    for statement in statements:
        assert statement.balanced
    for earlier, later in itertools.pairwise(statements):
        assert later.opening == earlier.closing
    assert statements[-1].closing == account.balance(CREDITS)
    assert sum(s.purchases for s in statements) == sum(e.delta for e in entries if e.kind == "credit")
    assert sum(s.usage + s.expiry for s in statements) == -sum(e.delta for e in entries if e.kind != "credit")
