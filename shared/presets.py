"""What every service's YAML presets share: money in major units, bucket names, readable errors, loading.

Operators write amounts as they publish them ("2500", "0.10"); presets are validated with the
operator's currency in the pydantic context (`{"currency": Currency}`) and hold integer minor
units. A validation error is turned into lines naming the field, so an operator can fix the file.
A service run by one preset the operator profile names keeps a `ServicePresets`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo

from shared import texts
from shared.ledger_core import BUCKET_NAME
from shared.money import Currency

if TYPE_CHECKING:
    from shared.operator import OperatorProfile


class Strict(BaseModel):
    """A preset section: unknown fields are refused (a typo must not silently mean 'default')."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _to_minor(value: Any, info: ValidationInfo) -> int:
    """'2500', 2500 or 0.05 (major units) -> minor units of the currency given at load time."""
    currency = (info.context or {}).get("currency")
    if currency is None:
        raise ValueError("amounts need the operator's currency: validate with context={'currency': ...}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f'an amount is a number in major units such as "2500" or "0.05", not {value!r}')
    minor = currency.to_minor(str(value))
    if minor < 0:
        raise ValueError(f"{value} is negative")
    return minor


Money = Annotated[int, BeforeValidator(_to_minor)]


def _texts_named(prefix: str) -> frozenset[str]:
    return frozenset(key[len(prefix) :] for key in texts.catalog() if key.startswith(prefix))


def allowance_buckets() -> frozenset[str]:
    """Buckets counting allowances (data MB, minutes, SMS), not money: those with a unit, texts `ledger.unit.<name>`."""
    return _texts_named("ledger.unit.") & _texts_named("ledger.bucket.")


def known_buckets() -> frozenset[str]:
    """Buckets of money subscribers can read the name of (texts `ledger.bucket.<name>`, and no unit)."""
    return _texts_named("ledger.bucket.") - allowance_buckets()


def _checked_bucket(value: str, known: frozenset[str], what: str) -> str:
    if not isinstance(value, str) or not BUCKET_NAME.match(value):
        raise ValueError(f"{value!r} is not a bucket name (lowercase, e.g. main or bonus)")
    if value not in known:
        raise ValueError(
            f"unknown {what} {value!r} (known: {', '.join(sorted(known))}; a new bucket needs "
            f"its name for subscribers in shared/texts, key ledger.bucket.{value})"
        )
    return value


def _bucket(value: str) -> str:
    return _checked_bucket(value, known_buckets(), "bucket")


def _allowance_bucket(value: str) -> str:
    return _checked_bucket(value, allowance_buckets(), "allowance bucket")


Bucket = Annotated[str, BeforeValidator(_bucket)]  # holds money: prices, fees, transfers are paid from it
AllowanceBucket = Annotated[str, BeforeValidator(_allowance_bucket)]  # holds MB, minutes or SMS (ledger.unit.<name>)


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


# --- loading a service's presets --------------------------------------------------------------


class PresetError(ValueError):
    """A preset file that cannot be used; the message names the file, the field and what is wrong."""


P = TypeVar("P", bound=BaseModel)


def load_preset_file(
    path: Path, model: type[P], currency: Currency, *, kind: str, error: type[PresetError] = PresetError
) -> P:
    """Read and validate one preset file as `model`; amounts become minor units of `currency`.

    `kind` names the file in messages ("missed-call preset"); `error` is the service's own
    PresetError, so its callers catch what they always caught.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise error(f"{kind} {path} does not exist") from None
    except yaml.YAMLError as problem:
        raise error(f"{kind} {path} is not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise error(f"{kind} {path} must be a mapping of fields (name, title, currency, ...)")
    # A missing currency is left to the model: where it is required, that names the field.
    written_in = data.get("currency")
    if written_in is not None and written_in != currency.code:
        raise error(
            f"{kind} {path}: currency: its amounts are written in {written_in}, but this operator's "
            f"currency is {currency.code}; use a preset written for {currency.code} or copy this one "
            f"and restate its amounts"
        )
    try:
        return model.model_validate(data, context={"currency": currency})
    except ValidationError as problem:
        raise error(f"{kind} {path} is invalid:\n  " + "\n  ".join(describe(problem))) from None


def names_in(directory: Path) -> list[str]:
    """The presets a folder ships: the stems of its *.yaml files, sorted."""
    return sorted(path.stem for path in Path(directory).glob("*.yaml"))


def load_named(
    directory: Path, name: str, load: Callable[[Path], P], *, kind: str, error: type[PresetError] = PresetError
) -> P:
    """`<directory>/<name>.yaml` read by `load`; its own `name:` must be its file name."""
    path = Path(directory) / f"{name}.yaml"
    if not path.exists():
        raise error(f"no {kind} named {name!r} (available: {', '.join(names_in(directory))})")
    preset = load(path)
    named = preset.name  # type: ignore[attr-defined]  # every service's preset model has a `name` field
    if named != name:
        raise error(f"{kind} {path}: name: {named!r} differs from its file name {name!r}")
    return preset


class ServicePresets(Generic[P]):
    """A service the operator profile runs with one preset, `services.<service>: [<name>]`.

    Each service keeps its own model, folder and error class; this holds what every such
    service does with them: read a file, read a preset by name, find the one in force.
    """

    def __init__(self, service: str, directory: Path, model: type[P], *, kind: str, error: type[PresetError]):
        self.service, self.directory, self.model, self.kind, self.error = service, Path(directory), model, kind, error
        # One load per (preset, currency) for the life of the process: handlers ask on every message.
        self._cached = functools.lru_cache(maxsize=8)(self.load)

    def load_file(self, path: Path, currency: Currency) -> P:
        """Read and validate one preset; amounts become minor units of `currency`."""
        return load_preset_file(path, self.model, currency, kind=self.kind, error=self.error)

    def names(self) -> list[str]:
        """The presets this service ships."""
        return names_in(self.directory)

    def load(self, name: str, currency: Currency) -> P:
        """A shipped preset by name (<directory>/<name>.yaml)."""
        return load_named(
            self.directory, name, lambda path: self.load_file(path, currency), kind=self.kind, error=self.error
        )

    def for_profile(self, profile: OperatorProfile) -> P | None:
        """The preset the profile names under services.<service>; None when the service is off."""
        names = tuple(profile.services.get(self.service, []))
        if not names:
            return None
        if len(names) > 1:
            raise self.error(f"services.{self.service} names {list(names)}: one preset runs the service")
        return self._cached(names[0], profile.currency)

    def in_force(self) -> tuple[OperatorProfile, P]:
        """For an entry point: the current operator profile and its preset; the service being off refuses the event."""
        from shared import operator, runtime  # entry points only: loading presets needs no profile and no Firestore

        profile = operator.current()
        preset = self.for_profile(profile)
        if preset is None:
            raise runtime.Rejected(
                f"no {self.kind} in force: the operator profile names none under services.{self.service}"
            )
        return profile, preset
