"""The operator's communication-credit service, as data: presets/<name>.yaml.

`services.credits: [<preset>]` in the operator profile switches the service on. A preset names
how long a purchase stays spendable and when its holder is warned, the amounts a card top-up and
an auto-recharge may take, the defaults and limits of auto-recharge (trigger, amount, monthly
cap), how failed recharges are retried, how usage reports mask the numbers called, how many
usage records one settlement applies, and the USSD code individuals top up on. Amounts are major
units of the preset's currency, held as minor units (shared/presets.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from shared.presets import Money, PresetError, ServicePresets, Strict

PRESETS_DIR = Path(__file__).with_name("presets")
SERVICE = "credits"  # the key of the operator profile's `services` naming the preset in force
BUCKET = "credits"  # the one bucket of a credit account's ledger (subscribers' accounts never hold it)


class ConfigError(PresetError):
    """A preset that cannot be used; the message names the file and the field."""


class AutoRechargeDefaults(Strict):
    """What a new account's auto-recharge starts with (off until its holder turns it on)."""

    trigger: Money = Field(gt=0, description="Recharge when the balance falls below this")
    amount: Money = Field(gt=0, description="What one recharge adds")
    monthly_max_count: int = Field(default=5, ge=1, le=100, description="Recharges a calendar month (operator's zone)")
    monthly_max_amount: Money = Field(gt=0, description="What recharges may add a calendar month")


class Limits(Strict):
    """What an account holder may set or ask for; anything outside is refused with the limit named."""

    min_topup: Money = Field(gt=0)
    max_topup: Money = Field(gt=0)
    max_trigger: Money = Field(gt=0)
    max_monthly_count: int = Field(default=31, ge=1, le=1000)
    max_monthly_amount: Money = Field(gt=0)


class CreditsConfig(Strict):
    name: str
    title: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    expiry_months: int = Field(default=12, ge=1, le=60, description="A purchase expires this long after it was bought")
    expiry_notice_days: tuple[int, ...] = Field(
        default=(30, 7), description="Emails this many days before a purchase expires, largest first"
    )
    auto_recharge: AutoRechargeDefaults
    limits: Limits
    retry_hours: tuple[float, ...] = Field(
        default=(1, 6), description="A failed auto-recharge is tried again after these hours, in turn"
    )
    max_consecutive_failures: int = Field(
        default=3, ge=1, le=10, description="Failed auto-recharges in a row that turn auto-recharge off"
    )
    ussd_code: str = Field(default="*125#", pattern=r"^\*[0-9]{2,4}#$", description="Individuals' credit menu")
    ussd_amounts: tuple[Money, ...] = Field(description="The top-up amounts the USSD menu offers, in order")
    mask_keep_last: int = Field(
        default=3, ge=0, le=6, description="Usage reports show only this many last digits of the number called"
    )
    settle_batch: int = Field(
        default=200,
        ge=1,
        le=240,
        description="Usage records one settlement applies in one transaction (each writes its record and "
        "the batch writes one ledger entry: Firestore takes 500 writes a transaction)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CreditsConfig:
        notices = list(self.expiry_notice_days)
        if notices != sorted(set(notices), reverse=True) or any(days < 1 for days in notices):
            raise ValueError("expiry_notice_days: distinct whole days, largest first (30, 7)")
        if len(self.retry_hours) + 1 < self.max_consecutive_failures:
            raise ValueError(
                "retry_hours: one wait per retry; auto-recharge turns off after max_consecutive_failures "
                f"({self.max_consecutive_failures}) failures, so give at least {self.max_consecutive_failures - 1}"
            )
        if self.limits.min_topup > self.limits.max_topup:
            raise ValueError("limits: min_topup is above max_topup")
        defaults, limits = self.auto_recharge, self.limits
        if defaults.amount < defaults.trigger:
            raise ValueError(
                "auto_recharge: amount must be at least the trigger, so one recharge lifts an empty account "
                "back above it"
            )
        if not limits.min_topup <= defaults.amount <= limits.max_topup or defaults.trigger > limits.max_trigger:
            raise ValueError("auto_recharge: the defaults must be within limits")
        if any(not limits.min_topup <= amount <= limits.max_topup for amount in self.ussd_amounts):
            raise ValueError("ussd_amounts: every amount must be within limits.min_topup .. limits.max_topup")
        return self


PRESETS = ServicePresets(SERVICE, PRESETS_DIR, CreditsConfig, kind="credits preset", error=ConfigError)
load_config = PRESETS.load_file  # (path, currency): one file, validated
load_preset = PRESETS.load  # (name, currency): a shipped preset
preset_names = PRESETS.names  # (): the shipped presets
config_for = PRESETS.for_profile  # (profile): the preset in force; None when the service is off
in_force = PRESETS.in_force  # (): (profile, config) for handlers
