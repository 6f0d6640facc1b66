"""What the usage export and the statement read from Firestore (the business API and care share it)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from google.cloud import firestore

from functions.credits import report
from functions.credits.documents import ACCOUNTS, ENTRIES, USAGE, Usage
from shared.ledger import entry_from_document


def usage_records(
    db: firestore.Client, account_id: str, start: datetime, end: datetime, user: str | None = None
) -> list[Usage]:
    """The account's usage records from `start` up to `end` (excluded), of one user when given."""
    query = db.collection(USAGE).where(filter=firestore.FieldFilter("account_id", "==", account_id))
    if user is not None:
        query = query.where(filter=firestore.FieldFilter("msisdn", "==", user))
    query = query.where(filter=firestore.FieldFilter("at", ">=", start)).where(
        filter=firestore.FieldFilter("at", "<", end)
    )
    return [Usage.model_validate(snapshot.to_dict()) for snapshot in query.stream()]


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first moment of `month` (YYYY-MM) in `zone`, and of the month after."""
    year, number = int(month[:4]), int(month[5:])
    following = (year + 1, 1) if number == 12 else (year, number + 1)
    return datetime(year, number, 1, tzinfo=zone), datetime(*following, 1, tzinfo=zone)


def statement_of(db: firestore.Client, account_id: str, month: str, zone: ZoneInfo) -> report.Statement:
    """The month's statement from the ledger entries: the last one before it (the opening), and every one in it."""
    start, end = month_bounds(month, zone)
    entries = db.collection(ACCOUNTS).document(account_id).collection(ENTRIES)
    earlier = (
        entries.where(filter=firestore.FieldFilter("at", "<", start))
        .order_by("at", direction=firestore.Query.DESCENDING)
        .limit(1)
        .stream()
    )
    during = entries.where(filter=firestore.FieldFilter("at", ">=", start)).where(
        filter=firestore.FieldFilter("at", "<", end)
    )
    found = [entry_from_document(snapshot.to_dict()) for snapshot in [*earlier, *during.stream()]]
    return report.statement(account_id, found, month, zone)
