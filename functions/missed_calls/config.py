"""The operator's missed-call service, as data: presets/<name>.yaml, named by the operator profile.

`services.missed_calls: [<preset>]` in the operator profile switches the service on. A preset says
which forwarded calls get the caller menu, how long missed calls and voice messages are kept,
the D-query window, what the service charges (monthly fee, price per delivered reminder, monthly
cap, the D query), whose feature wins when caller and callee both use the service, and the short
code and voicemail number subscribers use. Amounts are major units of the preset's currency,
held as minor units (shared/presets.py); a preset in another currency than the operator's is
refused. See presets/README.md for every field.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from shared.money import Currency
from shared.presets import Bucket, Money, Strict, describe

if TYPE_CHECKING:
    from shared.operator import OperatorProfile

PRESETS_DIR = Path(__file__).with_name("presets")
SERVICE = "missed_calls"  # the key of the operator profile's `services` naming the preset in force

# What a forwarded call of each kind gets: the full caller menu, or a reminder recorded for the
# callee with a short announcement (no keys).
ForwardHandling = Literal["menu", "reminder"]


class ConfigError(ValueError):
    """A preset that cannot be used; the message names the file and the field."""


class Forwards(Strict):
    """Per forward reason (spec: 'Busy and no-answer forwards follow the operator's configuration')."""

    unreachable: ForwardHandling = "menu"     # switched off / out of coverage: the seed's menu
    unconditional: ForwardHandling = "menu"
    busy: ForwardHandling = "reminder"
    no_answer: ForwardHandling = Field(default="reminder", alias="no-answer")
    unknown: ForwardHandling = "menu"         # the carrier gave no reason

    def handling(self, reason: str) -> ForwardHandling:
        return getattr(self, reason.replace("-", "_"))


class Charging(Strict):
    """What the service costs; every price is charged only for an SMS whose delivery is confirmed."""

    bucket: Bucket = "main"
    reminder_price: Money = Field(description="Per delivered reminder SMS to the callee")
    availability_price: Money = Field(description="Per delivered 'is available again' SMS (key 4) to the caller")
    details_query_price: Money = Field(description="Per delivered answer to a D query")
    monthly_fee: Money = Field(description="Registered users (voice mailbox), each calendar month")
    monthly_cap: Money | None = Field(default=None, description="Per-use charges stop at this sum a month")


class Voicemail(Strict):
    max_seconds: int = Field(default=60, ge=5, le=600, description="Longest voice message (Record maxLength)")
    silence_seconds: int = Field(default=5, ge=1, le=30, description="Silence that ends a recording")
    retention_days: int = Field(default=7, ge=1, le=365, description="Deleted (with the recording) after this")


class MissedCallConfig(Strict):
    name: str
    title: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    short_code: str = Field(default="06001", description="D queries and option keywords are texted here")
    voicemail_number: str = Field(default="06002", description="The callee calls it to hear voice messages")
    ussd_menu: str = Field(default="*160#", pattern=r"^[*#]\d{1,6}(\*\d{1,6})*#$",
                           description="USSD menu of the subscriber's options: status, voice mailbox, privacy, "
                                       "black and white lists")
    forwards: Forwards = Forwards()
    retention_hours: int = Field(default=72, ge=1, le=24 * 90,
                                 description="Missed calls kept for an absent callee; older ones are summarised")
    details_window_hours: int = Field(default=24, ge=1, le=24 * 30, description="How long a D reply gets details")
    caller_priority: Literal["callee", "caller"] = Field(
        default="callee",
        description="Both registered: whose setting wins when the callee's privacy meets the caller's key 4")
    activation_notice: bool = Field(default=True, description="Tell each subscriber once that the service is on")
    max_calls_per_attach: int = Field(default=200, ge=10, le=400,
                                      description="Missed calls one transaction delivers; more continue in the next")
    charging: Charging
    voicemail: Voicemail = Voicemail()

    @model_validator(mode="after")
    def _windows(self):
        if self.details_window_hours > self.retention_hours:
            raise ValueError(f"details_window_hours ({self.details_window_hours}) cannot exceed retention_hours "
                             f"({self.retention_hours}): the details would be gone")
        return self

    @property
    def retention(self) -> timedelta:
        return timedelta(hours=self.retention_hours)

    @property
    def details_window(self) -> timedelta:
        return timedelta(hours=self.details_window_hours)

    @property
    def voicemail_retention(self) -> timedelta:
        return timedelta(days=self.voicemail.retention_days)


def load_config(path: Path, currency: Currency) -> MissedCallConfig:
    """Read and validate one preset; amounts become minor units of `currency`."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"missed-call preset {path} does not exist") from None
    if not isinstance(data, dict):
        raise ConfigError(f"missed-call preset {path} is not a YAML mapping")
    if data.get("currency") != currency.code:
        raise ConfigError(f"missed-call preset {path}: currency: written for {data.get('currency')!r}, but the "
                          f"operator charges in {currency.code}; copy it and restate its prices")
    try:
        return MissedCallConfig.model_validate(data, context={"currency": currency})
    except ValidationError as error:
        raise ConfigError(f"missed-call preset {path} is invalid:\n  " + "\n  ".join(describe(error))) from None


def preset_names() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str, currency: Currency) -> MissedCallConfig:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"no missed-call preset named {name!r} (available: {', '.join(preset_names())})")
    config = load_config(path, currency)
    if config.name != name:
        raise ConfigError(f"missed-call preset {path}: name: {config.name!r} differs from its file name {name!r}")
    return config


def config_for(profile: "OperatorProfile") -> MissedCallConfig | None:
    """The preset the profile names under services.missed_calls; None when the service is off."""
    names = tuple(profile.services.get(SERVICE, []))
    if not names:
        return None
    if len(names) > 1:
        raise ConfigError(f"services.missed_calls names {list(names)}: one preset runs the service")
    return _cached(names[0], profile.currency)


@functools.lru_cache(maxsize=8)
def _cached(name: str, currency: Currency) -> MissedCallConfig:
    return load_preset(name, currency)
