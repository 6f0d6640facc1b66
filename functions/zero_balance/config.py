"""The operator's zero-balance callback service (ZeroX), as data: presets/<name>.yaml.

`services.zero_balance: [<preset>]` in the operator profile switches the service on. A preset
names the short code callers answer the offer on, the bucket whose balance must really be zero,
the per-MSISDN daily limits on prompts and on requests, how long an offer can be answered, and
the amount a caller may ask the callee to top them up with (option 2, offered only when the
operator also runs balance transfers with top-up requests). Amounts are major units of the
preset's currency, held as minor units (shared/presets.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from functions.transfers import public as transfers
from shared.presets import Bucket, Money, PresetError, ServicePresets, Strict

if TYPE_CHECKING:
    from shared.operator import OperatorProfile

PRESETS_DIR = Path(__file__).with_name("presets")
SERVICE = "zero_balance"  # the key of the operator profile's `services` naming the preset in force
TRANSFERS = "transfers"  # the balance-transfer service's key there: it is the one that asks the callee


class ConfigError(PresetError):
    """A preset that cannot be used; the message names the file and the field."""


class ZeroBalanceConfig(Strict):
    name: str
    title: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    short_code: str = Field(
        default="06005",
        pattern=r"^[0-9]{3,8}$",
        description="The offer is sent from it and answered to it (free for the caller)",
    )
    bucket: Bucket = Field(default="main", description="The balance that must really be zero")
    prompts_per_day: int = Field(
        default=5, ge=1, le=100, description="Offers one caller gets a day (operator's day); more attempts are counted"
    )
    requests_per_day: int = Field(
        default=3, ge=1, le=100, description="Call-me-back and top-up requests one caller may send a day"
    )
    offer_valid_minutes: int = Field(default=60, ge=1, le=24 * 60, description="How long an offer can be answered")
    own_subscribers_only: bool = Field(
        default=True,
        description="Offer only when the number called is this operator's subscriber: the request "
        "SMS is free to the caller and paid by the operator, and names the caller",
    )
    topup_amount: Money | None = Field(
        default=None, gt=0, description="Option 2 asks the callee for this; none: callback only"
    )

    @property
    def offer_validity(self) -> timedelta:
        return timedelta(minutes=self.offer_valid_minutes)


PRESETS = ServicePresets(SERVICE, PRESETS_DIR, ZeroBalanceConfig, kind="zero-balance preset", error=ConfigError)
load_config = PRESETS.load_file  # (path, currency): one file, validated
load_preset = PRESETS.load  # (name, currency): a shipped preset
preset_names = PRESETS.names  # (): the shipped presets
config_for = PRESETS.for_profile  # (profile): the preset in force; None when the service is off


def topup_amount(profile: OperatorProfile, config: ZeroBalanceConfig) -> int | None:
    """What option 2 asks for; None when it is not offered.

    Offered only when the preset names an amount and a transfer policy in force takes top-up asks:
    the transfers service is the one that asks the callee (asked through its public module).
    """
    if config.topup_amount is None or not transfers.takes_topup_asks(profile):
        return None
    return config.topup_amount
