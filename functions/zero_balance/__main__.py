"""Operator commands for zero-balance callback requests (ZeroX).

  python -m functions.zero_balance stats [--days N]   prompts, answers and the yes rate per day
  python -m functions.zero_balance offer MSISDN       a caller's latest offer and today's usage

The days are the operator's (its profile's time zone), the same days the per-caller limits count.
"""

from __future__ import annotations

import sys

from functions.zero_balance import rules, stats
from functions.zero_balance.documents import OFFERS, USAGE
from shared import cli, localtime, operator, store
from shared.events import utcnow


def show_stats(days: int) -> int:
    """Print the per-day counters of the last `days` days and the yes rate."""
    profile = operator.current()
    today = localtime.day_of(utcnow(), profile.timezone)
    for line in stats.table(stats.read(store.db(), stats.days_back(today, days))):
        print(line)
    return 0


def show_offer(msisdn: str) -> int:
    """Print a caller's latest offer and what they used of today's limits."""
    profile = operator.current()
    db = store.db()
    offer = db.collection(OFFERS).document(msisdn).get()
    if not offer.exists:
        print(f"{msisdn} has had no offer", file=sys.stderr)
        return 1
    for name, value in (offer.to_dict() or {}).items():
        print(f"{name:14} {value}")
    usage = rules.DailyUsage.on(
        db.collection(USAGE).document(msisdn).get().to_dict(), localtime.day_of(utcnow(), profile.timezone)
    )
    print(f"{'today':14} {usage.day}: {usage.prompts} prompts, {usage.requests} requests")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.zero_balance", __doc__)
    stats_parser = commands.add_parser("stats", help="prompts, answers and the yes rate per day")
    stats_parser.add_argument("--days", type=int, default=7, help="how many days back, today included (default 7)")
    offer_parser = commands.add_parser("offer", help="a caller's latest offer and today's usage")
    offer_parser.add_argument("msisdn", metavar="MSISDN", type=cli.msisdn)
    args = parser.parse_args(argv)
    if args.command == "stats":
        if not 1 <= args.days <= 366:
            parser.error("--days is between 1 and 366")
        return show_stats(args.days)
    return show_offer(args.msisdn)


if __name__ == "__main__":
    sys.exit(main())
