"""Operator commands for balance transfers.

python -m functions.transfers show REFERENCE     a transfer (or pay card, top-up request) by its reference
python -m functions.transfers history MSISDN     recent transfers of a number and the limits it has left
python -m functions.transfers unbar MSISDN       customer care lifts a subscriber's bar on transfers
python -m functions.transfers card SERIAL        a pay card's wrong codes from any callers: locked or not
python -m functions.transfers unlock-card SERIAL customer care unlocks a pay card (the caller has it at hand)
"""

from __future__ import annotations

import sys
import uuid

from google.cloud import firestore

from functions.transfers import documents, records, rules, vouchers
from functions.transfers.policy import PolicySet, policies_for
from shared import cli, ledger, operator, runtime, store
from shared.events import utcnow
from shared.operator import OperatorProfile

RECENT = 20


def policies() -> tuple[OperatorProfile, PolicySet]:
    # Not main.policies(): importing the function module asks for the functions' secrets, which care does not hold.
    profile = operator.current()
    return profile, policies_for(profile)


def show(text: str) -> int:
    """Print one record, field by field."""
    try:
        reference = records.normalise(text)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    snapshot = store.db().collection(documents.RECORDS).document(reference).get()
    if not snapshot.exists:
        print(f"no record under {reference}", file=sys.stderr)
        return 1
    profile, _ = policies()
    for name, value in (snapshot.to_dict() or {}).items():
        if name in ("amount", "fee", "sender_balance_after") and isinstance(value, int):
            value = f"{profile.currency.format(value)} ({value})"
        print(f"{name:22} {value}")
    return 0


def history(msisdn: str) -> int:
    """Print a number's recent records and what each of its policy's limits leaves."""
    profile, in_force = policies()
    db = store.db()
    # Needs the composite index (parties array-contains, at descending) in Firestore.
    query = (
        db.collection(documents.RECORDS)
        .where(filter=firestore.FieldFilter("parties", "array_contains", msisdn))
        .order_by("at", direction=firestore.Query.DESCENDING)
        .limit(RECENT)
    )
    money = profile.currency.format
    # A recycled number: records from before its owner's start are the previous owner's (former_owners/…).
    owner_since = (db.collection(store.SUBSCRIBERS).document(msisdn).get().to_dict() or {}).get("owner_since")
    shown = 0
    for snapshot in query.stream():
        r = snapshot.to_dict() or {}  # a query streams existing documents only
        direction = "sent to " if r["sender"] == msisdn else "from    "
        other = r["recipient"] if r["sender"] == msisdn else r["sender"]
        outcome = r["status"] if r["status"] == "accepted" else f"refused: {r['refusal_code']}"
        print(
            f"{r['at']:%Y-%m-%d %H:%M}  {r['reference']}  {r['kind']:13} {direction}{other}  "
            f"{money(r['amount']):>16}  fee {money(r['fee']):>12}  {outcome}"
            f"{'  (previous owner)' if owner_since and r['at'] < owner_since else ''}"
        )
        shown += 1
    print(f"{shown} recent record(s)", file=sys.stderr)
    subscriber = db.collection(store.SUBSCRIBERS).document(msisdn).get()
    party = rules.Party.from_documents(
        msisdn, subscriber.to_dict() if subscriber.exists else None, profile.default_language
    )
    policy = in_force.for_sender(party)
    if policy is None:
        print("no transfer policy covers this number")
        return 0
    account = ledger.read_account(db, msisdn)
    print(
        f"policy {policy.name}; barred: {party.transfers_barred}; "
        f"{policy.debit_bucket} balance {money(account.balance(policy.debit_bucket) if account else 0)}"
    )
    kept = db.collection(documents.HISTORY).document(msisdn).get()
    past = rules.History.from_document(kept.to_dict() if kept.exists else None)
    for scope in ("sender", "recipient"):
        for left in rules.limits_left(policy, past, utcnow(), scope=scope):
            window = f"per {left.period}" if left.period else f"per {left.rolling_days} days"
            caps = []
            if left.max_count is not None:
                caps.append(f"{left.count_left} of {left.max_count} transfers left")
            if left.max_amount is not None:
                caps.append(f"{money(left.amount_left or 0)} of {money(left.max_amount)} left")
            resets = f", frees up {left.resets_at:%Y-%m-%d %H:%M %Z}" if left.resets_at else ""
            print(f"  {scope:9} {window:14} {'; '.join(caps)}{resets}")
    return 0


def unbar(msisdn: str) -> int:
    """Publish transfer.bar-changed(barred=False, channel care); the subscriber gets an SMS when it applies."""
    request_id = f"care-{uuid.uuid4()}"
    envelope = runtime.publish_new(
        "transfer.bar-changed",
        {
            "request_id": request_id,
            "msisdn": msisdn,
            "barred": False,
            "channel": "care",
            "requested_at": utcnow().isoformat(),
        },
        event_id=request_id,
        source="care-cli",
    )
    print(f"asked to lift the bar of {msisdn} (event {envelope.id})")
    return 0


def card(serial: str) -> int:
    """Print the wrong codes tried on a card (its serial as keyed) within the window, and whether it is locked."""
    serial = vouchers.keyed_serial(serial)
    snapshot = store.db().collection(documents.VOUCHER_CARD_ATTEMPTS).document(serial).get()
    now = utcnow()
    wrong = vouchers.wrong_codes(vouchers.WrongCodes.from_document(snapshot.to_dict()), now)
    for at in wrong:
        print(f"wrong code  {at:%Y-%m-%d %H:%M:%S %Z}")
    state = "LOCKED" if vouchers.card_locked(vouchers.WrongCodes(tuple(wrong)), now) else "not locked"
    print(
        f"card {serial}: {len(wrong)} wrong code(s) in {vouchers.WRONG_CODE_WINDOW}; {state} "
        f"(locks at {vouchers.MAX_WRONG_CODES_PER_CARD})"
    )
    return 0


def unlock_card(serial: str) -> int:
    """Forget the wrong codes tried on a card, so its right code works again."""
    serial = vouchers.keyed_serial(serial)
    store.db().collection(documents.VOUCHER_CARD_ATTEMPTS).document(serial).delete()
    print(f"card {serial} unlocked")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.transfers", __doc__)
    commands.add_parser("show", help="a record by reference").add_argument("reference")
    commands.add_parser("history", help="recent transfers and limits left").add_argument(
        "msisdn", metavar="MSISDN", type=cli.msisdn
    )
    commands.add_parser("unbar", help="lift a subscriber's bar on transfers (customer care)").add_argument(
        "msisdn", metavar="MSISDN", type=cli.msisdn
    )
    commands.add_parser("card", help="a pay card's wrong codes and lock").add_argument("serial")
    commands.add_parser("unlock-card", help="unlock a pay card (customer care)").add_argument("serial")
    args = parser.parse_args(argv)
    if args.command == "show":
        return show(args.reference)
    if args.command == "history":
        return history(args.msisdn)
    if args.command == "card":
        return card(args.serial)
    if args.command == "unlock-card":
        return unlock_card(args.serial)
    return unbar(args.msisdn)


if __name__ == "__main__":
    sys.exit(main())
