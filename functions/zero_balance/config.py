"""The operator's zero-balance callback service (ZeroX), as data: presets/<name>.yaml.

`services.zero_balance: [<preset>]` in the operator profile switches the service on. A preset
names the short code callers answer the offer on, the bucket whose balance must really be zero,
the per-MSISDN daily limits on prompts and on requests, how long an offer can be answered, and
the amount a caller may ask the callee to top them up with (option 2, offered only when the
operator also runs balance transfers with top-up requests). Amounts are major units of the
preset's currency, held as minor units (shared/presets.py).
"""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import Field, ValidationError

from shared.money import Currency
from shared.presets import Bucket, Money, Strict, describe

if TYPE_CHECKING:
    from shared.operator import OperatorProfile

PRESETS_DIR = Path(__file__).with_name("presets")
SERVICE = "zero_balance"  # the key of the operator profile's `services` naming the preset in force
TRANSFERS = "transfers"   # the transfers service's key (functions/transfers/policy.py SERVICE)


class ConfigError(ValueError):
    """A preset that cannot be used; the message names the file and the field."""


class ZeroBalanceConfig(Strict):
    name: str
    title: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    short_code: str = Field(default="06005", pattern=r"^[0-9]{3,8}$",
                            description="The offer is sent from it and answered to it (free for the caller)")
    bucket: Bucket = Field(default="main", description="The balance that must really be zero")
    prompts_per_day: int = Field(default=5, ge=1, le=100,
                                 description="Offers one caller gets a day (operator's day); more attempts are counted")
    requests_per_day: int = Field(default=3, ge=1, le=100,
                                  description="Call-me-back and top-up requests one caller may send a day")
    offer_valid_minutes: int = Field(default=60, ge=1, le=24 * 60, description="How long an offer can be answered")
    topup_amount: Money | None = Field(default=None, gt=0,
                                       description="Option 2 asks the callee for this; none: callback only")

    @property
    def offer_validity(self) -> timedelta:
        return timedelta(minutes=self.offer_valid_minutes)


def load_config(path: Path, currency: Currency) -> ZeroBalanceConfig:
    """Read and validate one preset; amounts become minor units of `currency`."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"zero-balance preset {path} does not exist") from None
    if not isinstance(data, dict):
        raise ConfigError(f"zero-balance preset {path} is not a YAML mapping")
    if data.get("currency") != currency.code:
        raise ConfigError(f"zero-balance preset {path}: currency: written for {data.get('currency')!r}, but the "
                          f"operator charges in {currency.code}; copy it and restate its amounts")
    try:
        return ZeroBalanceConfig.model_validate(data, context={"currency": currency})
    except ValidationError as error:
        raise ConfigError(f"zero-balance preset {path} is invalid:\n  " + "\n  ".join(describe(error))) from None


def preset_names() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str, currency: Currency) -> ZeroBalanceConfig:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"no zero-balance preset named {name!r} (available: {', '.join(preset_names())})")
    config = load_config(path, currency)
    if config.name != name:
        raise ConfigError(f"zero-balance preset {path}: name: {config.name!r} differs from its file name {name!r}")
    return config


def config_for(profile: "OperatorProfile") -> ZeroBalanceConfig | None:
    """The preset the profile names under services.zero_balance; None when the service is off."""
    names = tuple(profile.services.get(SERVICE, []))
    if not names:
        return None
    if len(names) > 1:
        raise ConfigError(f"services.zero_balance names {list(names)}: one preset runs the service")
    return _cached(names[0], profile.currency)


@functools.lru_cache(maxsize=8)
def _cached(name: str, currency: Currency) -> ZeroBalanceConfig:
    return load_preset(name, currency)


def topup_amount(profile: "OperatorProfile", config: ZeroBalanceConfig) -> int | None:
    """What option 2 asks for; None when it is not offered.

    Offered only when the preset names an amount and the operator runs a balance-transfer policy
    with top-up requests: the transfers service is the one that asks the callee.
    """
    if config.topup_amount is None or not profile.services.get(TRANSFERS):
        return None
    from functions.transfers.policy import policies_for  # only deployments with transfers load them
    in_force = policies_for(profile)
    asks = any(p.funding == "balance" and p.topup_request.enabled for p in in_force)
    return config.topup_amount if asks else None
