"""Operator commands for missed-call alerts.

python -m functions.missed_calls show MSISDN      options, pending calls, voice messages, this month's charges
python -m functions.missed_calls charges MSISDN   every charge record of a number, charged or not and why
"""

from __future__ import annotations

import sys
from zoneinfo import ZoneInfo

from functions.missed_calls import calls, charging, documents, queries
from functions.missed_calls.config import config_for
from shared import cli, operator, store
from shared.events import utcnow


def _money(minor: int | None) -> str:
    return "-" if minor is None else f"{operator.current().currency.format(minor)} ({minor})"


def show(msisdn: str) -> int:
    """Print a subscriber's options, pending calls, voice messages and this month's charges."""
    db, profile = store.db(), operator.current()
    config = config_for(profile)
    user = db.collection(documents.USERS).document(msisdn).get().to_dict()
    if user is None:
        print(f"{msisdn}: no missed-call options stored (unregistered, defaults)")
        user = {}
    month = charging.month_of(utcnow(), ZoneInfo(profile.timezone))
    print(f"subscriber           {msisdn}")
    print(f"preset               {config.name if config else 'service off'}")
    for name in (
        "registered",
        "privacy",
        "blacklist",
        "whitelist",
        "activation_notice_at",
        "network",
        "due_at",
        "fee_due_at",
        "fee_months",
    ):
        print(f"{name:20} {user.get(name)}")
    # The PIN's state for care, never its hash: when it was set, whether it is skipped, the lock.
    stored_pin = user.get("voicemail_pin") or {}
    print(
        f"{'mailbox PIN':20} {'set ' + str(stored_pin.get('set_at')) if stored_pin else 'none'}"
        f"; own phone without PIN: {bool(user.get('voicemail_trust_own_phone'))}"
        f"; wrong in a row: {len(user.get('voicemail_pin_failures') or [])}; locked: {user.get('voicemail_locked_at')}"
    )
    print(
        f"{'usage ' + month:20} {_money((user.get('usage') or {}).get(month, 0))}"
        + (f" of cap {_money(config.charging.monthly_cap)}" if config and config.charging.monthly_cap else "")
    )
    pending = queries.calls_of(db, msisdn, calls.PENDING)
    print(f"\npending calls: {len(pending)}")
    for call in pending:
        print(
            f"  {call['called_at']:%Y-%m-%d %H:%M}Z  {call['caller']}  {call['choice']:12} "
            f"{'final' if call.get('final') else 'in IVR'}  {call['call_sid']}"
        )
    messages = queries.voicemails_of(db, msisdn)
    print(f"\nvoice messages: {len(messages)}")
    for message in messages:
        state = "deleted" if message.get("deleted") else ("heard" if message.get("heard_at") else "new")
        print(
            f"  {message['recorded_at']:%Y-%m-%d %H:%M}Z  {message['caller']}  {state:7} "
            f"delete after {message['delete_after']:%Y-%m-%d}  {message['call_sid']}"
        )
    return _print_charges(queries.charges_of(db, msisdn, month), title=f"charges in {month}")


def charges(msisdn: str) -> int:
    """Print every charge record of a number."""
    return _print_charges(queries.charges_of(store.db(), msisdn), title="charges")


def _print_charges(records: list[dict], *, title: str) -> int:
    total = sum(record["amount"] for record in records if record.get("charged"))
    print(f"\n{title}: {len(records)}, charged {_money(total)}")
    for record in records:
        outcome = "charged" if record.get("charged") else record.get("why_not")
        print(
            f"  {record['at']:%Y-%m-%d %H:%M}Z  {record['billing']:28} {record['status']:11} "
            f"{_money(record['amount']):24} {outcome}  {record['message_id']}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.missed_calls", __doc__)
    for name, help_text in (
        ("show", "options, pending calls, voice messages and this month's charges"),
        ("charges", "every charge record, charged or not and why"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("msisdn", metavar="MSISDN", type=cli.msisdn)
    args = parser.parse_args(argv)
    return show(args.msisdn) if args.command == "show" else charges(args.msisdn)


if __name__ == "__main__":
    sys.exit(main())
