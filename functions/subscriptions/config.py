"""The operator's product catalogue, as data: presets/<name>.yaml.

`services.subscriptions: [<preset>]` in the operator profile switches the service on. A preset
lists what the operator sells by subscription, with its prices in the operator's currency (major
units, held as minor units: shared/presets.py):

- `subscriptions`: content services and tariff options, charged every period (daily, weekly,
  monthly, annual) from one bucket, with an optional trial, reminder windows, the retry schedule
  and grace period of a failed renewal, and price changes that take effect on a date;
- `packs`: bundles that grant allowances (data in MB, voice minutes, SMS) as ledger lots with a
  validity, bought once (or renewing like a subscription), with M1's rules as fields: carrying the
  remaining allowance over on a repurchase within a maximum validity, and a limit on identical
  packs active at once;
- `plans`: tariff plans a subscriber may change to (M1's `#100#`), with the change's conditions.

A product's `id` is what events, consents and care name; its `keyword` is what a subscriber types
by SMS; its `names` are what every screen and SMS shows, per language.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from shared.consent import NO_WORDS, YES_WORDS
from shared.events import Language
from shared.presets import AllowanceBucket, Bucket, Money, PresetError, ServicePresets, Strict

PRESETS_DIR = Path(__file__).with_name("presets")
SERVICE = "subscriptions"  # the key of the operator profile's `services` naming the preset in force

Period = Literal["daily", "weekly", "monthly", "annual"]
AllowanceKind = Literal["data_mb", "voice_min", "sms"]
ProductId = str  # pattern below: lowercase, digits, '-' and '_'
PRODUCT_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"

# Words the short code answers itself (HELP, SUBS, STOP, STOP ALL, YES/NO), as far as a keyword
# (Latin capitals and digits) can spell them: a product keyword equal to one would never reach the product.
RESERVED_KEYWORDS: frozenset[str] = frozenset(
    {"HELP", "INFO", "YORDAM", "SUBS", "OBUNALAR", "STOP", "UNSUB", "ALL", "HAMMASI", *YES_WORDS, *NO_WORDS}
)
# The shortest each period can be, in days: a reminder must fall after the previous renewal.
PERIOD_DAYS: dict[Period, int] = {"daily": 1, "weekly": 7, "monthly": 28, "annual": 365}
DEFAULT_REMINDER_DAYS = (3, 0)
# Which buckets an allowance of each kind may be credited to (their unit is the kind's).
ALLOWANCE_BUCKETS: dict[str, frozenset[str]] = {
    "data_mb": frozenset({"data_mb", "roaming_data_mb"}),
    "voice_min": frozenset({"voice_min"}),
    "sms": frozenset({"sms"}),
}


class ConfigError(PresetError):
    """A catalogue preset that cannot be used; the message names the file and the field."""


def _named(names: dict[Language, str], language: str) -> str:
    fallback = next(iter(names.values()))
    return next((name for code, name in names.items() if code == language), fallback)


class PriceChange(Strict):
    """A new price from a date on (operator's zone): renewals due on or after it are charged it."""

    price: Money
    effective: date = Field(description="Local date (operator's zone) from which renewals are charged the new price")


class Reminders(Strict):
    """When a renewal is announced: whole days before the due date (0 = on the day, in the morning)."""

    days_before: list[int] = Field(
        default=list(DEFAULT_REMINDER_DAYS),
        description="Default: 3 days before and on the day (only those shorter than the period)",
    )
    hour: int = Field(default=10, ge=0, le=23, description="Local hour reminders and notices are sent at")

    @field_validator("days_before")
    @classmethod
    def _sorted_from_earliest(cls, days: list[int]) -> list[int]:
        if any(day < 0 for day in days):
            raise ValueError(f"{days}: days before the renewal are 0 (on the day) or more")
        if days != sorted(set(days), reverse=True):
            raise ValueError(f"{days}: list each day once, the earliest reminder first (e.g. [3, 0])")
        return days


class Renewal(Strict):
    """What happens when a renewal cannot be charged: retries within a grace period, then suspension, then the end."""

    retry_hours: list[int] = Field(
        default=[6, 24, 48], description="Hours after the due date at which a failed charge is tried again"
    )
    grace_days: int = Field(default=3, ge=0, le=60, description="Service continues unpaid this long, then suspended")
    suspended_days: int = Field(default=7, ge=0, le=180, description="Suspended this long, then cancelled")

    @model_validator(mode="after")
    def _retries_within_grace(self) -> Self:
        hours = self.retry_hours
        if any(hour <= 0 for hour in hours) or hours != sorted(set(hours)):
            raise ValueError(f"retry_hours {hours}: each once, after the due date (> 0), in increasing order")
        if hours and hours[-1] > self.grace_days * 24:
            raise ValueError(
                f"retry_hours: the last retry ({hours[-1]} h) falls after the grace period ({self.grace_days} days)"
            )
        return self


class Allowance(Strict):
    """What a pack grants: `amount` units (MB, minutes, SMS) into the allowance's ledger bucket."""

    kind: AllowanceKind
    bucket: AllowanceBucket
    amount: int = Field(gt=0, description="MB, minutes or messages (the bucket's unit)")

    @model_validator(mode="after")
    def _bucket_counts_the_kind(self) -> Self:
        allowed = ALLOWANCE_BUCKETS[self.kind]
        if self.bucket not in allowed:
            raise ValueError(f"bucket {self.bucket!r} does not hold {self.kind} (use {', '.join(sorted(allowed))})")
        return self


class Product(Strict):
    """What every product has: its id, its SMS keyword, its names and its price."""

    id: str = Field(pattern=PRODUCT_ID)
    keyword: str = Field(pattern=r"^[A-Z0-9]{2,12}$", description="SMS keyword (Latin capitals or digits)")
    names: dict[Language, str] = Field(min_length=1, description="Per language; the first is the fallback")
    price: Money
    bucket: Bucket = Field(default="main", description="The balance the price is charged from")
    price_changes: list[PriceChange] = Field(default_factory=list)
    description: dict[Language, str] = Field(default_factory=dict, description="The 'more information' text")

    def name_in(self, language: str) -> str:
        """The product's name in `language`, else its first name (the fallback)."""
        return _named(self.names, language)

    @field_validator("keyword", mode="before")
    @classmethod
    def _keyword_usable(cls, keyword: Any) -> Any:
        """Refused: a keyword YAML read as true/false, or one the short code answers itself."""
        if isinstance(keyword, bool):  # YAML reads an unquoted YES, NO, ON or OFF as true or false
            raise ValueError(f'read as {str(keyword).lower()}: write the keyword in quotes, e.g. "ON"')
        if keyword in RESERVED_KEYWORDS:
            raise ValueError(f"{keyword!r} is a word the short code answers itself (HELP, SUBS, STOP, ALL, YES/NO)")
        return keyword

    @field_validator("price_changes")
    @classmethod
    def _price_changes_dated_in_order(cls, changes: list[PriceChange]) -> list[PriceChange]:
        dates = [change.effective for change in changes]
        if dates != sorted(set(dates)):
            raise ValueError(f"effective dates {[str(day) for day in dates]}: one change a date, earliest first")
        return changes


class Renewable(Product):
    """What a product charged every period has: reminders before each renewal and the failed-renewal schedule."""

    period: Period | None = None
    reminders: Reminders = Reminders()
    renewal: Renewal = Renewal()

    @model_validator(mode="before")
    @classmethod
    def _default_reminders_within_period(cls, data: Any) -> Any:
        """A product stating no reminders gets the default days shorter than its period (a daily one: on the day)."""
        if isinstance(data, dict) and "reminders" not in data and data.get("period") in PERIOD_DAYS:
            shortest = PERIOD_DAYS[data["period"]]
            return {**data, "reminders": {"days_before": [day for day in DEFAULT_REMINDER_DAYS if day < shortest]}}
        return data

    @model_validator(mode="after")
    def _reminders_within_period(self) -> Self:
        """A reminder as many days before as the period is long would fall before the previous renewal."""
        if self.period is not None:
            shortest = PERIOD_DAYS[self.period]
            too_early = [day for day in self.reminders.days_before if day >= shortest]
            if too_early:
                raise ValueError(
                    f"reminders.days_before {too_early}: a {self.period} renewal comes every {shortest}+ days, "
                    f"remind fewer days before than that"
                )
        return self


class Subscription(Renewable):
    """A content service or tariff option charged every period until cancelled."""

    kind: Literal["subscription"] = "subscription"
    period: Period
    trial_days: int = Field(default=0, ge=0, le=90)


class Pack(Renewable):
    """A bundle of allowances with a validity; `period` set makes it renew like a subscription."""

    kind: Literal["pack"] = "pack"
    allowances: list[Allowance] = Field(min_length=1)
    validity_days: int = Field(ge=1, le=366)
    period: Period | None = Field(default=None, description="None: bought once; else renews every period")
    carry_over: bool = Field(default=False, description="M1: a repurchase before expiry keeps what is left")
    max_validity_days: int | None = Field(
        default=None, ge=1, le=366, description="M1: carried-over validity never reaches past this from the purchase"
    )
    max_active: int | None = Field(default=None, ge=1, description="M1 roaming: identical packs active at once")
    extra_when_below_mb: int | None = Field(
        default=None, ge=1, description="M1 roaming: one more than max_active when the data left is below this"
    )

    @model_validator(mode="after")
    def _limits_consistent(self) -> Self:
        if self.max_validity_days is not None and not self.carry_over:
            raise ValueError("max_validity_days caps a carried-over validity: set carry_over: true, or remove it")
        if self.max_validity_days is not None and self.validity_days > self.max_validity_days:
            raise ValueError(
                f"validity_days ({self.validity_days}) is longer than max_validity_days ({self.max_validity_days})"
            )
        if self.extra_when_below_mb is not None:
            if self.max_active is None:
                raise ValueError("extra_when_below_mb allows one pack beyond max_active: set max_active too")
            if not any(allowance.kind == "data_mb" for allowance in self.allowances):
                raise ValueError("extra_when_below_mb reads the data left: the pack grants no data_mb allowance")
        return self


class Plan(Strict):
    """A tariff plan a subscriber can change to."""

    id: str = Field(pattern=PRODUCT_ID)
    names: dict[Language, str] = Field(min_length=1)
    monthly_fee: Money = Field(
        default=0,
        description="Shown on the plan menu; charged by the operator's charging system, which owns the line's plan "
        "and hears the change as subscription.started (this service charges only the change's fee)",
    )

    def name_in(self, language: str) -> str:
        """The plan's name in `language`, else its first name (the fallback)."""
        return _named(self.names, language)


class PlanChange(Strict):
    """M1's `#100#`: the line active, the balance above a minimum, the first change free, later ones charged."""

    ussd_code: str = Field(default="#100#", pattern=r"^[*#][0-9*#]{1,20}#$")
    min_balance: Money
    free_changes: int = Field(default=1, ge=0)
    fee: Money
    bucket: Bucket = "main"


class Catalogue(Strict):
    """One operator's product catalogue."""

    name: str
    title: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    ussd_code: str = Field(pattern=r"^[*#][0-9*#]{1,20}#$", description="The subscriptions menu")
    short_code: str = Field(pattern=r"^[0-9]{3,8}$", description="SMS keywords, SUBS and STOP are sent to it")
    subscriptions: list[Subscription] = Field(default_factory=list)
    packs: list[Pack] = Field(default_factory=list)
    plans: list[Plan] = Field(default_factory=list)
    plan_change: PlanChange | None = None
    summary_day: int = Field(default=1, ge=1, le=28, description="Day of the month the spend summary is sent")

    @model_validator(mode="after")
    def _ids_and_keywords_unique(self) -> Self:
        seen_ids: set[str] = set()
        seen_keywords: set[str] = set()
        for product in self.products:
            if product.id in seen_ids:
                raise ValueError(f"product id {product.id!r} is used twice")
            if product.keyword in seen_keywords:
                raise ValueError(f"keyword {product.keyword!r} is used by two products")
            seen_ids.add(product.id)
            seen_keywords.add(product.keyword)
        return self

    @model_validator(mode="after")
    def _plans_changeable(self) -> Self:
        plan_ids = [plan.id for plan in self.plans]
        if len(set(plan_ids)) != len(plan_ids):
            raise ValueError(f"plans: an id is used twice in {plan_ids}")
        if self.plan_change is not None:
            if len(self.plans) < 2:
                raise ValueError("plan_change needs at least two plans to change between")
            if self.plan_change.ussd_code == self.ussd_code:
                raise ValueError(f"plan_change.ussd_code {self.ussd_code!r} is already the subscriptions menu")
        return self

    @property
    def products(self) -> list[Subscription | Pack]:
        return [*self.subscriptions, *self.packs]

    def product(self, product_id: str) -> Subscription | Pack | None:
        return next((product for product in self.products if product.id == product_id), None)

    def by_keyword(self, keyword: str) -> Subscription | Pack | None:
        wanted = keyword.strip().upper()
        return next((product for product in self.products if product.keyword == wanted), None)

    def plan(self, plan_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.id == plan_id), None)


PRESETS = ServicePresets(SERVICE, PRESETS_DIR, Catalogue, kind="product catalogue", error=ConfigError)
load_config = PRESETS.load_file  # (path, currency): one file, validated
load_preset = PRESETS.load  # (name, currency): a shipped preset
preset_names = PRESETS.names  # (): the shipped presets
config_for = PRESETS.for_profile  # (profile): the catalogue in force; None when the service is off
