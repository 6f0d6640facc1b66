"""What the operator commands (`python -m functions.<service>`) share: the parser and MSISDN arguments."""

from __future__ import annotations

import argparse

from shared import operator
from shared.msisdn import InvalidMsisdn


def commands(module: str, doc: str | None) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """A parser for `python -m <module>` whose help shows `doc` as written, and its required sub-commands."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return parser, parser.add_subparsers(dest="command", required=True)


def msisdn(raw: str) -> str:
    """An argument type: a number as the operator's people write it, in E.164; a bad one is a usage error (exit 2)."""
    try:
        return operator.current().msisdn(raw)
    except InvalidMsisdn as error:
        raise argparse.ArgumentTypeError(str(error)) from None
