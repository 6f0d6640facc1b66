"""What is due for a subscriber's book at a moment (pure: no I/O): renewals, retries, grace, notices, the summary.

Periods count from an item's anchor on the operator's calendar (pricing.period_end): period n
runs from `period_end(anchor, n)` to `period_end(anchor, n + 1)` and `periods_charged` is the
index of the next period to pay. A trial's anchor is the end of the trial, so its first charge
is period 0 and converts it. An item is due when `next_charge_at` (else the start of period
`periods_charged`) has come; a pass charges at most ONE period per item: the period that holds
`now` (periods the clock skipped, or spent unpaid in grace and suspension, are never charged),
and moves `periods_charged` past it in the same transaction, so a redelivered event, a second
clock tick or a top-up arriving at once find nothing left to charge.

Unpaid: the item goes into grace (the service goes on) and the charge is tried again at the
product's `retry_hours` after the due moment, and at once on any credit (`retry_now`); when
grace ends unpaid it is suspended, and cancelled after `suspended_days`. Each step is timed from
the due moment, not from when a tick happened to come, so late ticks do not stretch it.

Notices before a renewal go once each (their keys are kept in `Item.sent`, per period): the
reminders of the product's windows (each in its low-balance variant when the balance cannot pay
the renewal), the trial-ending notice, and the price-increase notice before the first charge at
a higher price. A notice whose moment passed long ago (a clock moved far) is marked, not sent.
The monthly spend summary goes on the catalogue's `summary_day` for the last month with spend.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from functions.subscriptions.config import Catalogue, Pack, Subscription
from functions.subscriptions.documents import Book, Item
from functions.subscriptions.pricing import month_of, period_end, price_at

STALE = timedelta(hours=12)  # a notice this late is no longer news: marked sent, not sent
REMINDER_LEAD = timedelta(hours=1)  # a reminder on the day goes at least this long before the charge
SUMMARY_HOUR = 10  # local hour the monthly summary goes
MONTHS_OF_SPEND_KEPT = 13  # a year back and this month: what the summary and care read
MAX_CATCH_UP = 100_000  # periods walked to find the one holding now (a daily item 270 years on)

Product = Subscription | Pack

# SMS templates (texts/renewals.yaml)
REMINDER = "renewals.reminder"
REMINDER_LOW_BALANCE = "renewals.reminder_low_balance"
TRIAL_ENDING = "renewals.trial_ending"
TRIAL_ENDING_LOW_BALANCE = "renewals.trial_ending_low_balance"
PRICE_INCREASE = "renewals.price_increase"
RENEWED = "renewals.renewed"
FAILED = "renewals.failed"
SUSPENDED = "renewals.suspended"
CANCELLED = "renewals.cancelled"
WITHDRAWN = "renewals.withdrawn"
SUMMARY = "renewals.summary"


@dataclass(frozen=True)
class Charge:
    """One period's debit (and a renewing pack's allowances) to apply in the same transaction as the book."""

    item_id: str
    product: str
    bucket: str
    amount: int
    period: int
    grants: tuple[tuple[str, int], ...] = ()
    grants_expire_at: datetime | None = None

    @property
    def reference(self) -> str:
        # One charge per item and period: the ledger entry names both, so care finds it.
        return f"subscription:{self.item_id}:{self.period}"


@dataclass(frozen=True)
class Notice:
    """An SMS to the subscriber: amounts (minor units) and dates (moments) are written in their language later."""

    purpose: str
    template: str
    item_id: str | None = None
    amounts: dict[str, int] = field(default_factory=dict)
    dates: dict[str, datetime] = field(default_factory=dict)
    lines: tuple[tuple[str, int], ...] = ()  # the summary's (product, amount), largest first
    month: str | None = None  # the summary's month, YYYY-MM


@dataclass(frozen=True)
class Fact:
    """A subscription.* event for other services."""

    topic: str
    item: Item
    price: int
    purpose: str
    reason: str | None = None


@dataclass
class Pass:
    """What one look at a book decided: the book after it, the debits, the SMS and the facts."""

    book: Book
    charges: list[Charge] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.charges or self.notices or self.facts)


# --- the calendar ------------------------------------------------------------------------


def due_at(item: Item, zone: str) -> datetime | None:
    """When the item's next period is due; None for what never renews (a one-off pack)."""
    return None if item.period is None else due_of(item, item.periods_charged, zone)


def period_holding(item: Item, now: datetime, zone: str) -> int:
    """The index of the period to charge at `now`: the due one, or a later one holding `now` when the clock moved on."""
    assert item.period is not None
    index = item.periods_charged
    for _ in range(MAX_CATCH_UP):
        if period_end(item.anchor, item.period, index + 1, zone) > now:
            break
        index += 1
    return index


def period_start(item: Item, zone: str) -> datetime:
    """When the period before the due one began (the trial's or the subscription's start for the first)."""
    if item.period is None or item.periods_charged == 0:
        return item.started_at
    return period_end(item.anchor, item.period, item.periods_charged - 1, zone)


def local_morning(day: date, hour: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(zone))


def grace_ends(item: Item, product: Product, zone: str) -> datetime:
    due = due_at(item, zone)
    assert due is not None
    return due + timedelta(days=product.renewal.grace_days)


def cancel_at(item: Item, product: Product, zone: str) -> datetime:
    """When a suspended item ends unpaid (suspended as of its grace's end when the moment was not recorded)."""
    suspended = item.suspended_at or grace_ends(item, product, zone)
    return suspended + timedelta(days=product.renewal.suspended_days)


def retry_moments(item: Item, product: Product, zone: str) -> list[datetime]:
    """The scheduled retries of the unpaid period, within its grace."""
    due, end = due_at(item, zone), grace_ends(item, product, zone)
    assert due is not None
    return sorted(moment for hours in product.renewal.retry_hours if (moment := due + timedelta(hours=hours)) < end)


def due_of(item: Item, index: int, zone: str) -> datetime:
    """When period `index` is due: the stored `next_charge_at` for the one due next, else from the anchor."""
    assert item.period is not None
    if index == item.periods_charged and item.next_charge_at is not None:
        return item.next_charge_at
    return period_end(item.anchor, item.period, index, zone)


def renewal_price(item: Item, product: Product, zone: str, index: int | None = None) -> int:
    """The price of period `index` (default: the one due next), in force on its local due date."""
    due = due_of(item, item.periods_charged if index is None else index, zone)
    return price_at(product, due.astimezone(ZoneInfo(zone)).date())


# --- notices before a renewal ---------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """A notice about the coming renewal: its key in `Item.sent`, its moment, its kind and window."""

    key: str
    at: datetime
    kind: str  # "reminder", "trial-ending", "price-increase"
    days: int


def planned_notices(item: Item, product: Product, zone: str) -> list[Planned]:
    """Every notice the coming renewal gets, sent or not, in time order."""
    due = due_at(item, zone)
    if due is None or item.status not in ("trial", "active"):
        return []
    n, start = item.periods_charged, period_start(item, zone)
    due_day = due.astimezone(ZoneInfo(zone)).date()
    hour = product.reminders.hour

    def moment(days: int) -> datetime:
        # Ahead of the charge it announces (a look at the charge itself only marks it), within its period.
        return max(min(local_morning(due_day - timedelta(days=days), hour, zone), due - REMINDER_LEAD), start)

    earliest_window = max(product.reminders.days_before, default=1)
    if item.status == "trial":
        return [Planned(f"trial-ending:{n}", moment(earliest_window), "trial-ending", earliest_window)]
    found = [
        Planned(f"reminder:{n}:{days}", moment(days), "reminder", days)
        for days in product.reminders.days_before
        if local_morning(due_day - timedelta(days=days), hour, zone) >= start
    ]
    if renewal_price(item, product, zone) > item.price:
        found.append(Planned(f"price-increase:{n}", moment(earliest_window), "price-increase", earliest_window))
    return sorted(found, key=lambda planned: (planned.at, planned.key))


def _notices_due(item: Item, product: Product, *, now: datetime, zone: str, balance: int) -> tuple[Item, list[Notice]]:
    """The notices whose moment came and were not sent yet: sent (or, when stale, only marked)."""
    due = due_at(item, zone)
    assert due is not None
    every = planned_notices(item, product, zone)
    ready = [notice for notice in every if notice.at <= now and notice.key not in item.sent]
    if not ready:
        return item, []
    price = renewal_price(item, product, zone)
    notices = []
    fresh_reminders = [planned for planned in ready if planned.kind == "reminder" and now - planned.at < STALE]
    latest_reminder = fresh_reminders[-1] if fresh_reminders else None  # two windows at once: the nearer one says it
    for planned in ready:
        if now - planned.at >= STALE or (planned.kind == "reminder" and planned is not latest_reminder):
            continue
        amounts = {"price": price}
        if planned.kind == "reminder":
            template = REMINDER if balance >= price else REMINDER_LOW_BALANCE
            amounts["balance"] = balance
        elif planned.kind == "trial-ending":
            template = TRIAL_ENDING if balance >= price else TRIAL_ENDING_LOW_BALANCE
            amounts["balance"] = balance
        else:
            template, amounts["old_price"] = PRICE_INCREASE, item.price
        notices.append(Notice(f"sms/{item.id}/{planned.key}", template, item.id, amounts, {"date": due}))
    sent = [*item.sent, *(planned.key for planned in ready)]
    return item.model_copy(update={"sent": sent}), notices


# --- charging -----------------------------------------------------------------------------


def _charge(item: Item, product: Product, *, now: datetime, zone: str, balances: dict[str, int]) -> Charge | None:
    """The debit of the period holding `now`, taken from `balances`; None when the bucket cannot pay it."""
    index = period_holding(item, now, zone)
    price = renewal_price(item, product, zone, index)
    if balances.get(item.bucket, 0) < price:
        return None
    balances[item.bucket] = balances.get(item.bucket, 0) - price
    grants: tuple[tuple[str, int], ...] = ()
    expires = None
    if isinstance(product, Pack):
        grants = tuple((allowance.bucket, allowance.amount) for allowance in product.allowances)
        expires = now + timedelta(days=product.validity_days)
    return Charge(item.id, item.product, item.bucket, price, index, grants, expires)


def _paid(item: Item, charge: Charge, *, zone: str) -> Item:
    """The item with `charge`'s period paid: active again, the next period due, old notice keys dropped."""
    assert item.period is not None
    following = charge.period + 1
    next_due = period_end(item.anchor, item.period, following, zone)
    return item.model_copy(
        update={
            "status": "active",
            "price": charge.amount,
            "periods_charged": following,
            "paid_through": next_due,
            "next_charge_at": next_due,
            "expires_at": charge.grants_expire_at or item.expires_at,
            "failed_attempts": 0,
            "next_retry_at": None,
            "last_failure": None,
            "suspended_at": None,
            "sent": [key for key in item.sent if _period_of(key) >= following],
        }
    )


def _period_of(key: str) -> int:
    try:
        return int(key.split(":")[1])
    except (IndexError, ValueError):
        return -1


def _spent(spend: dict[str, dict[str, int]], month: str, product: str, amount: int) -> dict[str, dict[str, int]]:
    months = {key: dict(value) for key, value in spend.items()}
    months.setdefault(month, {})
    months[month][product] = months[month].get(product, 0) + amount
    return {key: months[key] for key in sorted(months)[-MONTHS_OF_SPEND_KEPT:]}


# --- one item -----------------------------------------------------------------------------


@dataclass
class _Outcome:
    item: Item
    charge: Charge | None = None
    notices: list[Notice] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


def _renew(item: Item, product: Product, *, now: datetime, zone: str, balances: dict[str, int]) -> _Outcome | None:
    """Charge the due period; None when the balance cannot pay it."""
    charge = _charge(item, product, now=now, zone=zone, balances=balances)
    if charge is None:
        return None
    paid = _paid(item, charge, zone=zone)
    outcome = _Outcome(paid, charge)
    outcome.facts.append(Fact("subscription.renewed", paid, charge.amount, f"renewed/{item.id}/{charge.period}"))
    if charge.amount:
        outcome.notices.append(
            Notice(
                f"sms/{item.id}/renewed:{charge.period}",
                RENEWED,
                item.id,
                {"price": charge.amount, "balance": balances.get(item.bucket, 0)},
                {"date": paid.next_charge_at} if paid.next_charge_at else {},
            )
        )
    return outcome


def _unpaid(item: Item, product: Product, *, now: datetime, zone: str, balance: int) -> _Outcome:
    """A charge the balance could not pay: grace with retries, then suspension, then the end, each told once."""
    n, price = item.periods_charged, renewal_price(item, product, zone)
    attempt = item.failed_attempts + 1
    grace_end = grace_ends(item, product, zone)
    retries = [moment for moment in retry_moments(item, product, zone) if moment > now]
    updated = item.model_copy(
        update={
            "status": "suspended" if item.status == "suspended" else "grace",
            "failed_attempts": attempt,
            "last_failure": "insufficient_balance",
            "next_retry_at": retries[0] if retries else None,
        }
    )
    outcome = _Outcome(updated)
    if item.status != "suspended" and now < grace_end:
        outcome.facts.append(
            Fact(
                "subscription.renewal-failed", updated, price, f"failed/{item.id}/{n}/{attempt}", "insufficient_balance"
            )
        )
        if item.status in ("trial", "active"):  # told once, on the first failure; retries are silent
            outcome.notices.append(
                Notice(
                    f"sms/{item.id}/failed:{n}",
                    FAILED,
                    item.id,
                    {"price": price, "balance": balance},
                    {"date": grace_end},
                )
            )
    if updated.status == "grace" and now >= grace_end:
        updated = updated.model_copy(update={"status": "suspended", "suspended_at": grace_end, "next_retry_at": None})
        outcome.facts.append(Fact("subscription.suspended", updated, price, f"suspended/{item.id}/{n}", "unpaid"))
        if now < cancel_at(updated, product, zone):
            outcome.notices.append(
                Notice(
                    f"sms/{item.id}/suspended:{n}",
                    SUSPENDED,
                    item.id,
                    {"price": price},
                    {"date": cancel_at(updated, product, zone)},
                )
            )
    if updated.status == "suspended" and now >= cancel_at(updated, product, zone):
        updated = _ended(updated, now=now, reason="unpaid")
        outcome.facts.append(Fact("subscription.cancelled", updated, price, f"cancelled/{item.id}", "unpaid"))
        outcome.notices.append(Notice(f"sms/{item.id}/cancelled", CANCELLED, item.id, {"price": price}))
    outcome.item = updated
    return outcome


def _ended(item: Item, *, now: datetime, reason: str, status: str = "cancelled") -> Item:
    return item.model_copy(
        update={
            "status": status,
            "ended_at": now,
            "end_reason": reason,
            "next_charge_at": None,
            "next_retry_at": None,
        }
    )


def _attempt_due(item: Item, product: Product, *, now: datetime, zone: str, retry_now: bool) -> bool:
    """Whether this pass tries to charge the item."""
    if item.status in ("trial", "active"):
        due = due_at(item, zone)
        return due is not None and now >= due
    if retry_now:
        return True
    if item.status == "grace":
        return (item.next_retry_at is not None and now >= item.next_retry_at) or now >= grace_ends(item, product, zone)
    return now >= cancel_at(item, product, zone)


def _item_pass(
    item: Item, product: Product | None, *, now: datetime, zone: str, balances: dict[str, int], retry_now: bool
) -> _Outcome:
    if item.period is None:  # a one-off pack: it ends when its allowances do
        if item.expires_at is not None and now >= item.expires_at:
            return _Outcome(_ended(item, now=item.expires_at, reason="expired", status="expired"))
        return _Outcome(item)
    if product is None:  # the operator withdrew it: nothing more is charged
        due = due_at(item, zone)
        if due is None or now < due:
            return _Outcome(item)
        ended = _ended(item, now=now, reason="withdrawn")
        return _Outcome(
            ended,
            facts=[Fact("subscription.cancelled", ended, 0, f"cancelled/{item.id}", "withdrawn")],
            notices=[Notice(f"sms/{item.id}/withdrawn", WITHDRAWN, item.id)],
        )
    notices: list[Notice] = []
    if item.status in ("trial", "active"):
        item, notices = _notices_due(item, product, now=now, zone=zone, balance=balances.get(item.bucket, 0))
    if not _attempt_due(item, product, now=now, zone=zone, retry_now=retry_now):
        return _Outcome(item, notices=notices)
    # The receipt or the failure tells what a reminder due in the same look would have: it is only marked.
    return _renew(item, product, now=now, zone=zone, balances=balances) or _unpaid(
        item, product, now=now, zone=zone, balance=balances.get(item.bucket, 0)
    )


# --- the monthly summary ------------------------------------------------------------------


def summary_moment(month: str, summary_day: int, zone: str) -> datetime:
    """When the summary of `month` (YYYY-MM) goes: the catalogue's day of the following month, in the morning."""
    year, number = map(int, month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return local_morning(date(year, number, min(summary_day, calendar.monthrange(year, number)[1])), SUMMARY_HOUR, zone)


def months_to_summarise(book: Book) -> list[str]:
    """Months with money spent that no summary told yet, oldest first."""
    done = book.summarised_through or ""
    return [month for month in sorted(book.spend) if month > done and sum(book.spend[month].values()) > 0]


def _summary_due(book: Book, catalogue: Catalogue, *, now: datetime, zone: str) -> tuple[Book, list[Notice]]:
    """The latest finished month's summary once its day has come; older untold months are passed over."""
    ready = [month for month in months_to_summarise(book) if summary_moment(month, catalogue.summary_day, zone) <= now]
    if not ready:
        return book, []
    month = ready[-1]
    spent = book.spend[month]
    lines = tuple(sorted(((name, amount) for name, amount in spent.items() if amount > 0), key=lambda x: (-x[1], x[0])))
    notice = Notice(f"sms/summary/{month}", SUMMARY, amounts={"total": sum(spent.values())}, lines=lines, month=month)
    return book.model_copy(update={"summarised_through": month}), [notice]


# --- the book -----------------------------------------------------------------------------


def product_of(catalogue: Catalogue, item: Item) -> Product | None:
    product = catalogue.product(item.product)
    return product if product is not None and product.kind == item.kind else None


def advance(
    book: Book,
    catalogue: Catalogue,
    *,
    now: datetime,
    zone: str,
    balances: Mapping[str, int],
    retry_now: bool = False,
) -> Pass:
    """Everything due in `book` at `now`, given each bucket's balance; `retry_now`: a credit came, retry the unpaid."""
    left = dict(balances)
    result = Pass(book)
    items = dict(book.items)
    spend = book.spend
    for item_id in sorted(items, key=lambda key: (items[key].started_at, key)):
        item = items[item_id]
        if not item.live or item.kind == "plan":  # a plan's change fee is charged once, by the change itself
            continue
        outcome = _item_pass(item, product_of(catalogue, item), now=now, zone=zone, balances=left, retry_now=retry_now)
        items[item_id] = outcome.item
        if outcome.charge is not None:
            result.charges.append(outcome.charge)
            if outcome.charge.amount:
                spend = _spent(spend, month_of(now, zone), item.product, outcome.charge.amount)
        result.notices.extend(outcome.notices)
        result.facts.extend(outcome.facts)
    renewed = book.model_copy(update={"items": items, "spend": spend})
    updated, summary = _summary_due(renewed, catalogue, now=now, zone=zone)
    result.notices.extend(summary)
    result.book = scheduled(updated, catalogue, zone=zone)
    return result


def item_due_at(item: Item, catalogue: Catalogue, zone: str) -> datetime | None:
    """The next moment the item needs a look: a notice, the charge, a retry, the suspension or the end."""
    if not item.live or item.kind == "plan":
        return None
    if item.period is None:
        return item.expires_at
    product = product_of(catalogue, item)
    due = due_at(item, zone)
    if product is None:
        return due
    if item.status in ("trial", "active"):
        unsent = [planned.at for planned in planned_notices(item, product, zone) if planned.key not in item.sent]
        return min([*unsent, due]) if due is not None else None
    if item.status == "grace":
        return min(moment for moment in (item.next_retry_at, grace_ends(item, product, zone)) if moment is not None)
    return cancel_at(item, product, zone)


def scheduled(book: Book, catalogue: Catalogue, *, zone: str) -> Book:
    """The book with `next_due_at` (the earliest moment anything in it is due: the sweep's index) and
    `summary_due_at` recomputed: call it after any change to the book."""
    moments = [moment for item in book.items.values() if (moment := item_due_at(item, catalogue, zone)) is not None]
    untold = months_to_summarise(book)
    summary = summary_moment(untold[-1], catalogue.summary_day, zone) if untold else None
    if summary is not None:
        moments.append(summary)
    return book.model_copy(update={"next_due_at": min(moments, default=None), "summary_due_at": summary})


def failing(book: Book, bucket: str) -> bool:
    """Whether a credit to `bucket` could matter: a renewal charged from it is unpaid (in grace or suspended)."""
    return any(item.status in ("grace", "suspended") and item.bucket == bucket for item in book.items.values())
