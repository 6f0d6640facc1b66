"""What every service's YAML presets share: money in major units, bucket names, readable errors.

Operators write amounts as they publish them ("2500", "0.10"); presets are validated with the
operator's currency in the pydantic context (`{"currency": Currency}`) and hold integer minor
units. A validation error is turned into lines naming the field, so an operator can fix the file.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo

from shared import texts
from shared.ledger_core import BUCKET_NAME


class Strict(BaseModel):
    """A preset section: unknown fields are refused (a typo must not silently mean 'default')."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _to_minor(value: Any, info: ValidationInfo) -> int:
    """'2500', 2500 or 0.05 (major units) -> minor units of the currency given at load time."""
    currency = (info.context or {}).get("currency")
    if currency is None:
        raise ValueError("amounts need the operator's currency: validate with context={'currency': ...}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"an amount is a number in major units such as \"2500\" or \"0.05\", not {value!r}")
    minor = currency.to_minor(str(value))
    if minor < 0:
        raise ValueError(f"{value} is negative")
    return minor


Money = Annotated[int, BeforeValidator(_to_minor)]


def known_buckets() -> frozenset[str]:
    """Buckets subscribers can read the name of (texts `ledger.bucket.<name>`)."""
    prefix = "ledger.bucket."
    return frozenset(key[len(prefix):] for key in texts.catalog() if key.startswith(prefix))


def _bucket(value: str) -> str:
    if not isinstance(value, str) or not BUCKET_NAME.match(value):
        raise ValueError(f"{value!r} is not a bucket name (lowercase, e.g. main or bonus)")
    known = known_buckets()
    if value not in known:
        raise ValueError(f"unknown bucket {value!r} (known: {', '.join(sorted(known))}; a new bucket needs "
                         f"its name for subscribers in shared/texts, key ledger.bucket.{value})")
    return value


Bucket = Annotated[str, BeforeValidator(_bucket)]


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe(error: ValidationError) -> list[str]:
    """One line per problem: `limits[0].max_amount: <what is wrong>`."""
    lines = []
    for item in error.errors(include_url=False):
        where, message = _where(item["loc"]), item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown field {item['loc'][-1]!r} (check its spelling and level)"
        elif item["type"] == "missing":
            message = "required field is missing"
        lines.append(f"{where}: {message}")
    return lines
