"""Customer care for subscription tracking.

python -m functions.subscriptions show MSISDN          subscriptions, packs, plan, pending question, spend
python -m functions.subscriptions products             the catalogue in force: prices, periods, trials, packs, plans
python -m functions.subscriptions consents MSISDN      every sign-up question asked of a number and its answers
python -m functions.subscriptions cancel MSISDN ID     stop one (its id or number in `show`, or ALL) for them

Times are the operator's (its profile's time zone). `cancel` asks the service as the subscriber's
STOP does (subscription.cancel-requested, channel care): it takes effect at once and the
subscriber is told by SMS; nothing is changed here directly.
"""

from __future__ import annotations

import getpass
import sys
import uuid
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from google.cloud import firestore

from functions.subscriptions import pricing
from functions.subscriptions.config import Catalogue, Pack, Subscription, config_for
from functions.subscriptions.documents import Book, Item, read_book
from shared import cli, consent, operator, runtime, store
from shared.events import SubscriptionCancelRequested, utcnow
from shared.operator import OperatorProfile

CANCEL_TOPIC = "subscription.cancel-requested"
EVERY = "ALL"


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return "-" if moment is None else f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def _product_line(product: Subscription | Pack, profile: OperatorProfile) -> str:
    money = profile.currency.format
    every = f"every {pricing.consent_period(product.period)}" if product.period else pricing.ONCE
    parts = [f"{product.id:20} {product.keyword:8} {product.kind:12} {money(product.price):>14} {every}"]
    if isinstance(product, Subscription) and product.trial_days:
        parts.append(f"trial {product.trial_days} days")
    parts.extend(f"from {change.effective} {money(change.price)}" for change in product.price_changes)
    if isinstance(product, Pack):
        parts.append(", ".join(f"{allowance.amount} {allowance.bucket}" for allowance in product.allowances))
        parts.append(f"valid {product.validity_days} days")
        if product.carry_over:
            parts.append(f"carry-over up to {product.max_validity_days or product.validity_days} days")
        if product.max_active is not None:
            extra = f", one more below {product.extra_when_below_mb} MB" if product.extra_when_below_mb else ""
            parts.append(f"at most {product.max_active} live{extra}")
    return "; ".join(parts) + f"  ({product.name_in(profile.default_language)})"


def describe_products(catalogue: Catalogue, profile: OperatorProfile) -> list[str]:
    """The catalogue as care reads it: every product with its price rules, then the plans and how they change."""
    lines = [
        f"{catalogue.name}: {catalogue.title} ({catalogue.currency}); menu {catalogue.ussd_code}, "
        f"SMS to {catalogue.short_code}; spend summary on day {catalogue.summary_day}"
    ]
    lines.extend(_product_line(product, profile) for product in catalogue.products)
    for plan in catalogue.plans:
        fee = f", monthly fee {profile.currency.format(plan.monthly_fee)}" if plan.monthly_fee else ""
        lines.append(f"plan {plan.id:15} {plan.name_in(profile.default_language)}{fee}")
    rule = catalogue.plan_change
    if rule is not None:
        money = profile.currency.format
        lines.append(
            f"plan change on {rule.ussd_code}: balance above {money(rule.min_balance)}, "
            f"{rule.free_changes} free, then {money(rule.fee)} from {rule.bucket}"
        )
    return lines


def _item_line(item: Item, catalogue: Catalogue, profile: OperatorProfile, zone: ZoneInfo) -> str:
    product = catalogue.product(item.product)
    name = product.name_in(profile.default_language) if product else f"{item.product} (no longer sold)"
    dates = [f"next charge {_when(item.next_charge_at, zone)}"] if item.next_charge_at else []
    if item.paid_through:
        dates.append(f"paid through {_when(item.paid_through, zone)}")
    if item.expires_at:
        dates.append(f"expires {_when(item.expires_at, zone)}")
    if item.failed_attempts:
        dates.append(f"{item.failed_attempts} failed, retry {_when(item.next_retry_at, zone)} ({item.last_failure})")
    if item.ended_at:
        dates.append(f"ended {_when(item.ended_at, zone)} ({item.end_reason})")
    every = pricing.consent_period(item.period)
    return (
        f"{item.id:34} {name:24} {item.status:10} {profile.currency.format(item.price):>14}/{every:6} "
        f"via {item.channel:5} since {_when(item.started_at, zone)}; " + "; ".join(dates)
    )


def describe_book(book: Book, catalogue: Catalogue, profile: OperatorProfile) -> list[str]:
    """A subscriber's book as care reads it: live items numbered as SUBS numbers them, then the rest and the spend."""
    zone = ZoneInfo(profile.timezone)
    lines = [
        f"subscriber {book.msisdn}; catalogue {catalogue.name}; plan {book.plan or '-'} ({book.plan_changes} changes)"
    ]
    if book.pending is not None:
        pending = book.pending
        lines.append(f"waiting for YES/NO about {pending.product} until {_when(pending.expires_at, zone)}")
    live = book.live()
    lines.append(f"live: {len(live)}")
    lines.extend(f"  {number}. {_item_line(item, catalogue, profile, zone)}" for number, item in enumerate(live, 1))
    ended = sorted((item for item in book.items.values() if not item.live), key=lambda item: item.started_at)
    lines.append(f"ended: {len(ended)}")
    lines.extend(f"     {_item_line(item, catalogue, profile, zone)}" for item in ended)
    for month, spent in sorted(book.spend.items()):
        total = profile.currency.format(sum(spent.values()))
        each = ", ".join(f"{product} {profile.currency.format(amount)}" for product, amount in sorted(spent.items()))
        lines.append(f"spent {month}: {total} ({each})")
    lines.append(f"next work due {_when(book.next_due_at, zone)}; summary due {_when(book.summary_due_at, zone)}")
    return lines


def describe_consents(records: Iterable[consent.Consent], profile: OperatorProfile) -> list[str]:
    """Every question asked, oldest first: what was shown, the request, the answer, and what came of it."""
    zone = ZoneInfo(profile.timezone)
    ordered = sorted(records, key=lambda record: record.request.at)
    lines = [f"consents: {len(ordered)}"]
    for record in ordered:
        answer = record.confirmation
        lines.extend(
            [
                f"{record.id}  {record.offer}  {record.status}  {record.channel}  "
                f"{profile.currency.format(record.price)} per {record.period}",
                f"  shown ({record.language}): {record.shown}",
                f"  asked  {_when(record.request.at, zone)}  {record.request.reference}  {record.request.text!r}",
                f"  answer {_when(answer.at, zone)}  {answer.reference}  {answer.text!r}"
                if answer
                else f"  answer none (reply by {_when(record.expires_at, zone)})",
            ]
        )
    return lines


def cancel_request(book: Book, wanted: str, *, by: str, now: datetime) -> SubscriptionCancelRequested | str:
    """The request stopping `wanted` (an item id, its number in `show`, or ALL); else a text saying why not."""
    live = book.live()
    if wanted.upper() == EVERY:
        if not live:
            return f"{book.msisdn} has no live subscription"
        ids: list[str] = []
    else:
        item = book.items.get(wanted)
        if item is None and wanted.isdigit() and 1 <= int(wanted) <= len(live):
            item = live[int(wanted) - 1]  # the number `show` (and the subscriber's SUBS) gives it
        if item is None:
            return f"{book.msisdn} has no subscription {wanted!r} (see `show`)"
        if not item.live:
            return f"{item.id} already ended ({item.status}, {item.end_reason})"
        ids = [item.id]
    request_id = f"care-{uuid.uuid4()}"
    return SubscriptionCancelRequested(
        request_id=request_id,
        msisdn=book.msisdn,
        subscription_ids=ids,
        every=not ids,
        channel="care",
        requested_at=now,
        by=by,
    )


# --- Firestore and the bus --------------------------------------------------------------------


def _catalogue() -> tuple[OperatorProfile, Catalogue] | None:
    profile = operator.current()
    catalogue = config_for(profile)
    if catalogue is None:
        print(
            "subscriptions are off: the operator profile names no preset under services.subscriptions", file=sys.stderr
        )
        return None
    return profile, catalogue


def read_consents(msisdn: str) -> list[consent.Consent]:
    query = store.db().collection(consent.COLLECTION).where(filter=firestore.FieldFilter("msisdn", "==", msisdn))
    return [consent.Consent.model_validate(snapshot.to_dict()) for snapshot in query.stream()]


def _print(lines: list[str]) -> int:
    print("\n".join(lines))
    return 0


def show(msisdn: str) -> int:
    """Print a subscriber's book."""
    found = _catalogue()
    return 1 if found is None else _print(describe_book(read_book(msisdn), found[1], found[0]))


def products() -> int:
    """Print the catalogue in force."""
    found = _catalogue()
    return 1 if found is None else _print(describe_products(found[1], found[0]))


def consents(msisdn: str) -> int:
    """Print every consent record of a number."""
    return _print(describe_consents(read_consents(msisdn), operator.current()))


def cancel(msisdn: str, wanted: str, by: str) -> int:
    """Publish subscription.cancel-requested (channel care); the service stops it and tells the subscriber."""
    request = cancel_request(read_book(msisdn), wanted, by=by, now=utcnow())
    if isinstance(request, str):
        print(request, file=sys.stderr)
        return 1
    envelope = runtime.publish_new(CANCEL_TOPIC, request, event_id=request.request_id, source="care-cli")
    what = "every live subscription" if request.every else ", ".join(request.subscription_ids)
    print(f"asked to stop {what} of {msisdn} (event {envelope.id}); the subscriber is told by SMS")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.subscriptions", __doc__)
    for name, help_text in (
        ("show", "a subscriber's subscriptions, packs, plan, pending question and spend"),
        ("consents", "every sign-up question asked of a number and its answers"),
        ("cancel", "stop one subscription (or ALL) for the subscriber; confirmed to them by SMS"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("msisdn", metavar="MSISDN", type=cli.msisdn)
    commands.choices["cancel"].add_argument("id", metavar="ID", help="a subscription id or number from `show`, or ALL")
    commands.choices["cancel"].add_argument("--by", default=getpass.getuser(), help="the care agent (default: you)")
    commands.add_parser("products", help="the catalogue in force: prices, periods, trials, packs, plans")
    args = parser.parse_args(argv)
    if args.command == "products":
        return products()
    if args.command == "show":
        return show(args.msisdn)
    if args.command == "consents":
        return consents(args.msisdn)
    return cancel(args.msisdn, args.id, args.by)


if __name__ == "__main__":
    sys.exit(main())
