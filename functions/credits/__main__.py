"""Customer care for communication credits.

python -m functions.credits open-business ID --name N --email E --language L --owner MSISDN
python -m functions.credits open-individual MSISDN --email E [--language L]
python -m functions.credits add-user ID MSISDN [--name N]   the line's credits usage goes to account ID
python -m functions.credits key ID                          issue a business API key (shown once)
python -m functions.credits revoke-key ID PREFIX            revoke account ID's key(s) care lists with that prefix
python -m functions.credits card ID TOKEN                   attach the gateway's card token as the card on file
python -m functions.credits show ID                         balance, lots, auto-recharge, card, users, keys
python -m functions.credits statement ID YYYY-MM            the month's opening, purchases, usage, expiry, closing
python -m functions.credits usage ID [--from D --to D --user MSISDN]   the usage CSV (dates YYYY-MM-DD)

Times are the operator's (its profile's time zone). `card` asks the service as the business API
does (credits.settings-requested, channel care): the credits-settings consumer applies it.
"""

from __future__ import annotations

import getpass
import sys
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from google.cloud import firestore

from functions.credits import accounts, keys, records, report, settings as account_settings
from functions.credits.config import BUCKET, CreditsConfig, config_for
from functions.credits.documents import ACCOUNTS, USERS, AccountKind, CreditAccount
from functions.credits.wallet import credits_of
from shared import cli, operator, payments, runtime, store
from shared.events import CreditsSettingsRequested, derive_event_id, utcnow
from shared.operator import OperatorProfile


def _config() -> tuple[OperatorProfile, CreditsConfig] | None:
    profile = operator.current()
    config = config_for(profile)
    if config is None:
        print(
            "communication credits are off: the operator profile names no preset under services.credits",
            file=sys.stderr,
        )
        return None
    return profile, config


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return "-" if moment is None else f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def describe(
    account: CreditAccount, users: list[str], api_keys: list[keys.ApiKey], profile: OperatorProfile, now: datetime
) -> list[str]:
    """An account as care reads it."""
    zone, money = ZoneInfo(profile.timezone), profile.currency.format
    ledger = credits_of(account, now)
    lots = ledger.buckets[BUCKET].lots  # credits_of always holds the bucket, empty or not
    auto, state, card = account.auto, account.recharge, account.card
    lines = [
        f"{account.id} ({account.kind}) {account.name}; email {account.email or '-'}; language {account.language}; "
        f"owner {account.owner or '-'}",
        f"balance {money(ledger.balance(BUCKET))} in {len(lots)} lots (spent oldest first):",
        *(
            f"  lot {lot.id}  {money(lot.amount):>18}  bought {_when(lot.credited_at, zone)}  "
            f"expires {_when(lot.expires_at, zone)}"
            for lot in lots
        ),
        f"card {card.brand} *{card.last4}" if card else "card: none on file",
        f"auto-recharge {'on' if auto.enabled else 'off'}: below {money(auto.trigger)} add {money(auto.amount)}; "
        f"at most {auto.monthly_max_count} / {money(auto.monthly_max_amount)} a month",
        f"recharge state {state.phase}; charge {state.charge_id or '-'} attempt {state.attempt}; "
        f"{state.failures} failures in a row; retry {_when(state.retry_at, zone)}; "
        f"month {state.month or '-'}: {state.month_count} / {money(state.month_amount)}"
        + (f"; turned off: {state.disabled_reason}" if state.disabled_reason else ""),
        f"users: {', '.join(users) if users else 'none'}",
        f"API keys: {len(api_keys)}",
        *(
            f"  {key.prefix}…  issued {_when(key.created_at, zone)} by {key.created_by or '-'}"
            + (f"  REVOKED {_when(key.revoked_at, zone)}" if key.revoked_at else "")
            for key in api_keys
        ),
        f"next work due {_when(account.next_due_at, zone)}",
    ]
    return lines


def _read(db: firestore.Client, account_id: str) -> CreditAccount | None:
    document = db.collection(ACCOUNTS).document(account_id).get().to_dict()
    if document is None:
        print(f"no credit account {account_id}", file=sys.stderr)
        return None
    return CreditAccount.model_validate(document)


def _open(
    account_id: str, kind: AccountKind, name: str, email: str | None, language: str | None, owner: str | None
) -> int:
    found = _config()
    if found is None:
        return 1
    profile, config = found
    db = store.db()
    try:
        account = accounts.new_account(
            account_id,
            kind=kind,
            name=name,
            email=email,
            language=language or profile.default_language,
            owner=owner,
            config=config,
            now=utcnow(),
        )
        accounts.open_account(db, account)
        if kind == "individual" and owner is not None:
            accounts.add_user(db, account.id, owner, name=name, now=utcnow())
    except accounts.AccountError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"opened {kind} credit account {account.id} ({config.currency}); auto-recharge off until a card is on file")
    return 0


def open_individual(msisdn: str, email: str | None, language: str | None) -> int:
    """An individual's account, their line its one user; their language from their subscriber record when not given."""
    subscriber = store.db().collection(store.SUBSCRIBERS).document(msisdn).get().to_dict() or {}
    chosen = language or subscriber.get("language")
    return _open(accounts.individual_id(msisdn), "individual", msisdn, email, chosen, msisdn)


def add_user(account_id: str, msisdn: str, name: str | None) -> int:
    try:
        accounts.add_user(store.db(), account_id, msisdn, name=name, now=utcnow())
    except accounts.AccountError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{msisdn}'s credits usage now goes to {account_id}")
    return 0


def issue_key(account_id: str, by: str) -> int:
    db = store.db()
    if _read(db, account_id) is None:
        return 1
    issued = keys.issue(db, account_id, now=utcnow(), by=by)
    print(f"API key for {account_id} (shown once; give it to the holder, it is stored only hashed):\n{issued.secret}")
    return 0


def revoke_key(account_id: str, prefix: str) -> int:
    try:
        revoked = keys.revoke(store.db(), account_id, prefix, now=utcnow())
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    if not revoked:
        print(f"no live key of {account_id} starts with {prefix}", file=sys.stderr)
        return 1
    print("\n".join(f"revoked {key.prefix}… of {key.account_id}" for key in revoked))
    return 0


def attach_card(account_id: str, token: str, by: str) -> int:
    """Attach the token at the gateway, then ask the service to keep it as the card on file."""
    account = _read(store.db(), account_id)
    if account is None:
        return 1
    try:
        customer, card = account_settings.attach_card(account, token)
    except payments.CardRefused as refused:
        print(f"the card was refused ({refused.code}): {refused.message}", file=sys.stderr)
        return 1
    request_id = f"{account.id}.care.{uuid.uuid4().hex}"
    asked = CreditsSettingsRequested(
        request_id=request_id,
        account_id=account.id,
        card=card,
        customer=customer,
        channel="care",
        requested_by=by,
        requested_at=utcnow(),
    )
    runtime.publish_new(
        account_settings.TOPIC, asked, event_id=derive_event_id(request_id, "care/settings"), source="care-cli"
    )
    print(f"asked to keep {card.brand} *{card.last4} as {account.id}'s card on file")
    return 0


def show(account_id: str) -> int:
    db = store.db()
    account = _read(db, account_id)
    if account is None:
        return 1
    users = db.collection(USERS).where(filter=firestore.FieldFilter("account_id", "==", account_id)).stream()
    lines = describe(account, sorted(u.id for u in users), keys.keys_of(db, account_id), operator.current(), utcnow())
    print("\n".join(lines))
    return 0


def statement(account_id: str, month: str) -> int:
    profile = operator.current()
    built = records.statement_of(store.db(), account_id, month, ZoneInfo(profile.timezone))
    print("\n".join(built.lines(profile.currency)))
    return 0 if built.balanced else 1


def usage(account_id: str, first: date | None, last: date | None, user: str | None) -> int:
    found = _config()
    if found is None:
        return 1
    profile, config = found
    zone = ZoneInfo(profile.timezone)
    today = utcnow().astimezone(zone).date()
    first, last = first or today.replace(day=1), last or today
    start, end = datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone)
    chosen = records.usage_records(store.db(), account_id, start, end, user)
    sys.stdout.write(report.usage_csv(chosen, zone=zone, keep_last=config.mask_keep_last, currency=profile.currency))
    return 0


def _month(raw: str) -> str:
    try:
        date.fromisoformat(f"{raw}-01")
    except ValueError:
        raise ValueError(f"{raw!r} is not a month (YYYY-MM)") from None
    return raw


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.credits", __doc__)
    by = {"default": getpass.getuser(), "help": "the care agent (default: you)"}
    business = commands.add_parser("open-business", help="open a business credit account")
    business.add_argument("id", metavar="ID")
    business.add_argument("--name", required=True)
    business.add_argument("--email", required=True)
    business.add_argument("--language", required=True)
    business.add_argument("--owner", metavar="MSISDN", type=cli.msisdn, help="the business's contact line")
    individual = commands.add_parser("open-individual", help="open an individual's credit account")
    individual.add_argument("msisdn", metavar="MSISDN", type=cli.msisdn)
    individual.add_argument("--email", required=True)
    individual.add_argument("--language")
    user = commands.add_parser("add-user", help="charge a line's credits usage to an account")
    user.add_argument("id", metavar="ID")
    user.add_argument("msisdn", metavar="MSISDN", type=cli.msisdn)
    user.add_argument("--name")
    commands.add_parser("key", help="issue a business API key").add_argument("id", metavar="ID")
    commands.choices["key"].add_argument("--by", **by)
    commands.add_parser("revoke-key", help="revoke an account's API key by its prefix").add_argument("id", metavar="ID")
    commands.choices["revoke-key"].add_argument("prefix", metavar="PREFIX")
    card = commands.add_parser("card", help="attach a card token as the card on file")
    card.add_argument("id", metavar="ID")
    card.add_argument("token", metavar="TOKEN")
    card.add_argument("--by", **by)
    commands.add_parser("show", help="an account as care reads it").add_argument("id", metavar="ID")
    month = commands.add_parser("statement", help="a month's statement")
    month.add_argument("id", metavar="ID")
    month.add_argument("month", metavar="YYYY-MM", type=_month)
    export = commands.add_parser("usage", help="the usage CSV")
    export.add_argument("id", metavar="ID")
    export.add_argument("--from", dest="first", type=date.fromisoformat)
    export.add_argument("--to", dest="last", type=date.fromisoformat)
    export.add_argument("--user", metavar="MSISDN", type=cli.msisdn)
    args = parser.parse_args(argv)
    if args.command == "open-business":
        return _open(args.id, "business", args.name, args.email, args.language, args.owner)
    if args.command == "open-individual":
        return open_individual(args.msisdn, args.email, args.language)
    if args.command == "add-user":
        return add_user(args.id, args.msisdn, args.name)
    if args.command == "key":
        return issue_key(args.id, args.by)
    if args.command == "revoke-key":
        return revoke_key(args.id, args.prefix)
    if args.command == "card":
        return attach_card(args.id, args.token, args.by)
    if args.command == "show":
        return show(args.id)
    if args.command == "statement":
        return statement(args.id, args.month)
    return usage(args.id, args.first, args.last, args.user)


if __name__ == "__main__":
    sys.exit(main())
