"""Operator commands for the ledger: `python -m functions.ledger check [MSISDN...]`."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from shared import cli, ledger, store


def check(msisdns: list[str]) -> int:
    """Print each account's discrepancies; exit status 1 when any account disagrees with its entries."""
    db = store.db()
    results: Iterable[tuple[str, list[ledger.Discrepancy]]] = (
        ((number, ledger.check(db, number)) for number in msisdns) if msisdns else ledger.check_all(db)
    )
    checked = broken = 0
    for msisdn, problems in results:
        checked += 1
        broken += bool(problems)
        for problem in problems:
            print(f"{msisdn}\t{problem.bucket or '-'}\t{problem.problem}")
    print(f"checked {checked} account(s): {checked - broken} sound, {broken} with discrepancies", file=sys.stderr)
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.ledger", __doc__)
    checker = commands.add_parser("check", help="verify that each account's entries sum to its balances")
    checker.add_argument(
        "msisdns", nargs="*", metavar="MSISDN", type=cli.msisdn, help="accounts to check (default: all)"
    )
    args = parser.parse_args(argv)
    return check(args.msisdns)


if __name__ == "__main__":
    sys.exit(main())
