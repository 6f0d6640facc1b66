"""Operator commands for the ledger: `python -m functions.ledger check [MSISDN...]`."""

from __future__ import annotations

import argparse
import sys

from shared import ledger, operator, store
from shared.msisdn import InvalidMsisdn


def check(msisdns: list[str]) -> int:
    """Print each account's discrepancies; exit status 1 when any account disagrees with its entries."""
    db = store.db()
    if msisdns:
        try:
            numbers = [operator.current().msisdn(raw) for raw in msisdns]
        except InvalidMsisdn as error:
            print(error, file=sys.stderr)
            return 2
        results = ((number, ledger.check(db, number)) for number in numbers)
    else:
        results = ledger.check_all(db)
    checked = broken = 0
    for msisdn, problems in results:
        checked += 1
        broken += bool(problems)
        for problem in problems:
            print(f"{msisdn}\t{problem.bucket or '-'}\t{problem.problem}")
    print(f"checked {checked} account(s): {checked - broken} sound, {broken} with discrepancies",
          file=sys.stderr)
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m functions.ledger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    checker = commands.add_parser("check", help="verify that each account's entries sum to its balances")
    checker.add_argument("msisdns", nargs="*", metavar="MSISDN", help="accounts to check (default: all)")
    args = parser.parse_args(argv)
    return check(args.msisdns)


if __name__ == "__main__":
    sys.exit(main())
