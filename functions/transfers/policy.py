"""Transfer policies: the rules an operator runs, written as YAML and validated here (no I/O beyond reading the file).

A policy says who may send and receive, which amounts, the fee, the balance to keep, which
buckets move, the limits per calendar period or rolling window, when new customers become
eligible, what a top-up request costs and whether subscribers may bar the service. Amounts are
written in the operator's major units ("2500", "0.05") and held as integer minor units;
`load_policy` converts them with the operator's currency and refuses a preset written for
another currency. `presets/` holds the operators' published rule sets; an operator writes a new
one without touching Python (see presets/README.md).

Validation is done once, at load; `rules.decide` reads the precomputed `TransferPolicy.compiled`
so a decision does no pydantic work.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, field_validator, model_validator

from functions.transfers.limits import CompiledLimit
from shared import zones
from shared.events import Language
from shared.money import Currency
from shared.presets import Bucket, Money, PresetError, Strict, load_named, load_preset_file, names_in

if TYPE_CHECKING:  # rules imports this module; the annotation only
    from functions.transfers.parties import Party
    from shared.operator import OperatorProfile

PRESETS_DIR = Path(__file__).with_name("presets")
SERVICE = "transfers"  # the key of the operator profile's `services` that names the presets in force
KIND = "transfer policy"  # how messages name a policy file

CustomerType = Literal["individual", "corporate"]
LineType = Literal["prepaid", "postpaid"]
Status = Literal["active", "blocked"]


class PolicyError(PresetError):
    """A policy file that cannot be used; the message names the file, the field and what is wrong."""


# --- the parts of a policy -------------------------------------------------------------------


class Selection(Strict):
    """Which senders this policy is for; the first policy of the operator's list that matches wins."""

    tariff_plans: list[str] | None = Field(default=None, description="None: any tariff plan")
    line_types: list[LineType] | None = Field(default=None, description="None: prepaid and postpaid")
    customer_types: list[CustomerType] | None = Field(default=None, description="None: any customer type")


class SenderRules(Strict):
    """Who may send (a sender outside them is refused with the reason)."""

    customer_types: list[CustomerType] = Field(default=["individual", "corporate"], min_length=1)
    line_types: list[LineType] = Field(default=["prepaid", "postpaid"], min_length=1)
    statuses: list[Status] = Field(default=["active"], min_length=1)
    roaming_allowed: bool = True


class RecipientRules(Strict):
    """Who may receive: subscribers of this operator (home) or numbers of listed foreign countries."""

    network: Literal["home", "foreign"] = "home"
    countries: list[str] = Field(
        default_factory=list, description="foreign only: ISO 3166 countries whose numbers may receive"
    )
    customer_types: list[CustomerType] = Field(default=["individual", "corporate"], min_length=1)
    line_types: list[LineType] = Field(default=["prepaid", "postpaid"], min_length=1)
    statuses: list[Status] = Field(default=["active"], min_length=1)
    roaming_allowed: bool = True

    @field_validator("countries")
    @classmethod
    def _iso_countries(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not (len(c) == 2 and c.isascii() and c.isalpha() and c.isupper())]
        if bad:
            raise ValueError(f"countries are ISO 3166 codes such as BD or CN, not {', '.join(map(repr, bad))}")
        return value

    @model_validator(mode="after")
    def _countries_for_foreign_only(self) -> Self:
        if self.network == "foreign" and not self.countries:
            raise ValueError("a foreign-network policy lists the countries it serves (countries: [BD, CN, ...])")
        if self.network == "home" and self.countries:
            raise ValueError(
                "countries are for network: foreign; a home-network policy serves this operator's subscribers"
            )
        return self


class AmountRange(Strict):
    min: Money
    max: Money
    step: Money | None = Field(default=None, description="None: one whole major unit")


class Amounts(Strict):
    """Either a list of allowed amounts or a range; every amount is a whole number of major units."""

    allowed: list[Money] | None = None
    range: AmountRange | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.allowed is None) == (self.range is None):
            raise ValueError("give either allowed: [list of amounts] or range: {min, max, step}")
        if self.allowed is not None and (not self.allowed or 0 in self.allowed):
            raise ValueError("allowed amounts are positive and at least one is given")
        if self.range is not None and not 0 < self.range.min <= self.range.max:
            raise ValueError("range needs 0 < min <= max")
        if self.range is not None and self.range.step == 0:
            raise ValueError("range step must be positive")
        return self


class MinimumBalance(Strict):
    """What the sender must keep on `bucket` after the transfer (amount and fee both debited)."""

    amount: Money
    bucket: Bucket = "main"
    comparison: Literal["at_least", "greater_than"] = Field(
        default="at_least", description="at_least: balance after >= amount; greater_than: balance after > amount"
    )


class Credit(Strict):
    """Where the transferred amount lands on the recipient's account."""

    bucket: Bucket = "main"
    validity_days: int | None = Field(default=None, gt=0, le=3650, description="None: the credited lot never expires")
    extends_account_validity: bool = False


class Limit(Strict):
    """A cap on transfers within one window: a calendar day/month (operator's zone) or the last N days."""

    scope: Literal["sender", "recipient"] = "sender"
    period: Literal["day", "month"] | None = Field(default=None, description="calendar period in the operator's zone")
    rolling_days: int | None = Field(default=None, gt=0, le=31, description="a rolling window of N days ending now")
    max_count: int | None = Field(default=None, gt=0)
    max_amount: Money | None = None

    @model_validator(mode="after")
    def _one_window_something_capped(self) -> Self:
        if (self.period is None) == (self.rolling_days is None):
            raise ValueError("a limit has either period: day|month or rolling_days: N")
        if self.max_count is None and self.max_amount is None:
            raise ValueError("a limit caps max_count, max_amount or both")
        if self.max_amount == 0:
            raise ValueError("max_amount must be positive")
        return self


class SpendThreshold(Strict):
    """A first top-up of at least `first_topup_from` must be followed by spending at least `must_spend`."""

    first_topup_from: Money
    must_spend: Money


class Eligibility(Strict):
    """When a new customer may start sending (receiving is never restricted by this)."""

    first_call_required: bool = False
    first_topup_spent: list[SpendThreshold] = Field(
        default_factory=list,
        description="rows by first top-up; the row with the largest first_topup_from <= the first top-up applies, "
        "and a first top-up below every row uses the lowest row",
    )

    @field_validator("first_topup_spent")
    @classmethod
    def _distinct_rows(cls, rows: list[SpendThreshold]) -> list[SpendThreshold]:
        starts = [row.first_topup_from for row in rows]
        if len(set(starts)) != len(starts):
            raise ValueError("two rows have the same first_topup_from")
        return sorted(rows, key=lambda row: row.first_topup_from)


class TopUpRequest(Strict):
    """`*116*MSISDN*amount#`: ask someone to top you up."""

    enabled: bool = True
    fee: Money = 0


class Bar(Strict):
    """Whether a subscriber may bar their own outgoing transfers, and where the bar is lifted."""

    subscriber_can_bar: bool = True
    lifted_through: list[Literal["ussd", "care", "web", "shop", "hotline"]] = Field(default=["care", "web", "hotline"])


# --- the policy --------------------------------------------------------------------------------


class TransferPolicy(Strict):
    """One operator rule set for balance transfers (or, with funding: voucher, pay-card activations)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str = Field(min_length=1, description="The product's name in English")
    titles: dict[Language, str] = Field(
        default_factory=dict, description="The product's name in other languages (ru, uz, ky, zh)"
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code the amounts are written in; needed when there are amounts",
    )
    timezone: str | None = Field(default=None, description="IANA zone of calendar limits; the operator profile's wins")
    funding: Literal["balance", "voucher"] = Field(
        default="balance", description="balance: the sender's balance pays; voucher: a pay card pays (IVR 0670)"
    )
    applies_to: Selection = Selection()
    sender: SenderRules = SenderRules()
    recipient: RecipientRules = RecipientRules()
    amounts: Amounts | None = None
    fee: Money = 0
    debit_bucket: Bucket = "main"
    minimum_balance: MinimumBalance | None = None
    credit: Credit = Credit()
    limits: list[Limit] = Field(default_factory=list)
    eligibility: Eligibility = Eligibility()
    topup_request: TopUpRequest = TopUpRequest(enabled=False)
    bar: Bar = Bar()

    _compiled: Compiled | None = PrivateAttr(default=None)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return value if value is None else zones.valid_zone(value)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.funding == "balance" and self.amounts is None:
            raise ValueError("a balance transfer policy says which amounts are allowed (amounts: allowed or range)")
        if self.funding == "voucher":
            has_money = (
                self.amounts is not None
                or self.fee
                or self.minimum_balance is not None
                or self.limits
                or self.topup_request.enabled
            )
            if has_money:
                raise ValueError(
                    "a voucher policy takes its amount from the pay card: no amounts, fee, "
                    "minimum_balance, limits or topup_request"
                )
        if self.funding == "balance" and self.currency is None:
            raise ValueError("currency is required: the ISO code the amounts are written in (e.g. UZS)")
        return self

    @property
    def compiled(self) -> Compiled:
        """The policy as plain precomputed values for `rules.decide`."""
        if self._compiled is None:
            raise PolicyError(f"policy {self.name} was not loaded with load_policy()")
        return self._compiled

    @property
    def amount_choices(self) -> tuple[int, ...]:
        """The allowed amounts in minor units, for a menu; empty for a range policy."""
        return tuple(self.amounts.allowed) if self.amounts and self.amounts.allowed else ()

    @property
    def history_days(self) -> int:
        """How many days of transfer history the limits of this policy look back."""
        return self.compiled.history_days

    def selects(self, sender: Party) -> bool:
        """Whether this policy is the one for `sender` (by tariff plan, line type, customer type)."""
        return self.compiled.selects(sender)

    def title_in(self, language: str) -> str | None:
        """The product's name in `language`; None when the preset does not name it in that language."""
        title = next((text for code, text in self.titles.items() if code == language), None)
        return title or (self.title if language == "en" else None)


# --- precomputed form -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compiled:
    """Plain values `rules.decide` reads: sets instead of lists, minor units, one zone object."""

    name: str
    funding: str
    select_tariffs: frozenset[str] | None
    select_lines: frozenset[str] | None
    select_customers: frozenset[str] | None
    sender_customers: frozenset[str]
    sender_lines: frozenset[str]
    sender_statuses: frozenset[str]
    sender_roaming: bool
    recipient_foreign: bool
    recipient_countries: frozenset[str]
    recipient_customers: frozenset[str]
    recipient_lines: frozenset[str]
    recipient_statuses: frozenset[str]
    recipient_roaming: bool
    allowed_amounts: frozenset[int] | None
    range_min: int
    range_max: int
    range_step: int
    amounts_text: str  # "2 500, 5 000, 10 000 so'm" or "1 000 – 10 000 IQD", for refusals
    fee: int
    debit_bucket: str
    minimum: int | None
    minimum_bucket: str
    minimum_strict: bool
    credit_bucket: str
    credit_validity_days: int | None
    extends_validity: bool
    limits: tuple[CompiledLimit, ...]
    first_call_required: bool
    spend_rows: tuple[tuple[int, int], ...]  # (first_topup_from, must_spend), ascending
    zone: tzinfo
    history_days: int

    def selects(self, sender: Party) -> bool:
        return (
            (self.select_tariffs is None or sender.tariff_plan in self.select_tariffs)
            and (self.select_lines is None or sender.line_type in self.select_lines)
            and (self.select_customers is None or sender.customer_type in self.select_customers)
        )


_WINDOW_WORD = {"day": "daily", "month": "monthly", None: "rolling"}


def _limit_codes(limit: Limit) -> tuple[str, str]:
    """daily_count / daily_limit, monthly_*, rolling_*; recipient limits prefixed recipient_."""
    prefix = "recipient_" if limit.scope == "recipient" else ""
    word = _WINDOW_WORD[limit.period]
    return f"{prefix}{word}_count", f"{prefix}{word}_limit"


def _amounts_text(amounts: Amounts, currency: Currency) -> str:
    whole = 10**currency.minor_unit

    def bare(minor: int) -> str:  # currency.format without the symbol, for all but the last amount
        return currency.format(minor).rsplit(" ", 1)[0]

    if amounts.allowed is not None:
        values = sorted(amounts.allowed)
        return ", ".join([bare(v) for v in values[:-1]] + [currency.format(values[-1])])
    assert amounts.range is not None  # a policy's amounts are a list or a range (Amounts' validator)
    step = amounts.range.step or whole
    text = f"{bare(amounts.range.min)} – {currency.format(amounts.range.max)}"
    return text if step == whole else f"{text} ({currency.format(step)})"


def _compile(policy: TransferPolicy, currency: Currency | None, zone: tzinfo) -> Compiled:
    whole = 10**currency.minor_unit if currency else 1
    amounts, minimum, rng = policy.amounts, policy.minimum_balance, policy.amounts and policy.amounts.range
    history = max(
        [31 if lim.period == "month" else 1 if lim.period == "day" else lim.rolling_days or 0 for lim in policy.limits]
        or [0]
    )  # a limit has a period or rolling days (Limit's validator)

    def opt(values: Iterable[Any] | None) -> frozenset[Any] | None:
        return None if values is None else frozenset(values)

    return Compiled(
        name=policy.name,
        funding=policy.funding,
        select_tariffs=opt(policy.applies_to.tariff_plans),
        select_lines=opt(policy.applies_to.line_types),
        select_customers=opt(policy.applies_to.customer_types),
        sender_customers=frozenset(policy.sender.customer_types),
        sender_lines=frozenset(policy.sender.line_types),
        sender_statuses=frozenset(policy.sender.statuses),
        sender_roaming=policy.sender.roaming_allowed,
        recipient_foreign=policy.recipient.network == "foreign",
        recipient_countries=frozenset(policy.recipient.countries),
        recipient_customers=frozenset(policy.recipient.customer_types),
        recipient_lines=frozenset(policy.recipient.line_types),
        recipient_statuses=frozenset(policy.recipient.statuses),
        recipient_roaming=policy.recipient.roaming_allowed,
        allowed_amounts=opt(amounts.allowed) if amounts else None,
        range_min=rng.min if rng else 0,
        range_max=rng.max if rng else 0,
        range_step=(rng.step or whole) if rng else whole,
        amounts_text=_amounts_text(amounts, currency) if amounts and currency else "",
        fee=policy.fee,
        debit_bucket=policy.debit_bucket,
        minimum=minimum.amount if minimum else None,
        minimum_bucket=minimum.bucket if minimum else policy.debit_bucket,
        minimum_strict=bool(minimum and minimum.comparison == "greater_than"),
        credit_bucket=policy.credit.bucket,
        credit_validity_days=policy.credit.validity_days,
        extends_validity=policy.credit.extends_account_validity,
        limits=tuple(
            CompiledLimit(lim.scope, lim.period, lim.rolling_days, lim.max_count, lim.max_amount, *_limit_codes(lim))
            for lim in policy.limits
        ),
        first_call_required=policy.eligibility.first_call_required,
        spend_rows=tuple((row.first_topup_from, row.must_spend) for row in policy.eligibility.first_topup_spent),
        zone=zone,
        history_days=history,
    )


def _check_whole_amounts(policy: TransferPolicy, currency: Currency) -> list[str]:
    """Transfers are whole major units: every allowed amount, range bound and step."""
    whole = 10**currency.minor_unit
    problems = []
    if policy.amounts and policy.amounts.allowed:
        for i, minor in enumerate(policy.amounts.allowed):
            if minor % whole:
                problems.append(
                    f"amounts.allowed[{i}]: {currency.format(minor)} is not a whole number of {currency.code}"
                )
    rng = policy.amounts.range if policy.amounts else None
    if rng:
        for field in ("min", "max", "step"):
            minor = getattr(rng, field)
            if minor is not None and minor % whole:
                problems.append(
                    f"amounts.range.{field}: {currency.format(minor)} is not a whole number of {currency.code}"
                )
    return problems


# --- loading ----------------------------------------------------------------------------------


def load_policy(path: Path, currency: Currency, *, timezone: str | None = None) -> TransferPolicy:
    """Read and validate one policy file; amounts become minor units of `currency`.

    `timezone` (the operator profile's) places calendar days and months; without it the policy's
    own `timezone` is used. Raises PolicyError naming the file, each faulty field and why.
    """
    policy = load_preset_file(path, TransferPolicy, currency, kind=KIND, error=PolicyError)
    problems = _check_whole_amounts(policy, currency)
    if problems:
        raise PolicyError(f"transfer policy {path} is invalid:\n  " + "\n  ".join(problems))
    zone_name = timezone or policy.timezone
    if zone_name is None and any(lim.period for lim in policy.limits):
        raise PolicyError(
            f"transfer policy {path}: timezone: calendar limits need a time zone "
            f"(give timezone: or load it through the operator profile)"
        )
    policy._compiled = _compile(policy, currency, ZoneInfo(zone_name or "UTC"))
    return policy


def preset_names() -> list[str]:
    return names_in(PRESETS_DIR)


def load_preset(name: str, currency: Currency, *, timezone: str | None = None) -> TransferPolicy:
    """A shipped preset by name (presets/<name>.yaml)."""
    return load_named(
        PRESETS_DIR, name, lambda path: load_policy(path, currency, timezone=timezone), kind=KIND, error=PolicyError
    )


class PolicySet:
    """The operator's policies in force, in the order the profile lists them."""

    def __init__(self, policies: list[TransferPolicy] | tuple[TransferPolicy, ...], home_country: str | None = None):
        self.policies = tuple(policies)
        self.home_country = home_country
        names = [p.name for p in self.policies]
        if len(set(names)) != len(names):
            raise PolicyError(f"a policy is listed twice: {names}")
        self._transfers = tuple(p for p in self.policies if p.funding == "balance")
        self._vouchers = tuple(p for p in self.policies if p.funding == "voucher")

    def __iter__(self) -> Iterator[TransferPolicy]:
        return iter(self.policies)

    def __len__(self) -> int:
        return len(self.policies)

    def by_name(self, name: str) -> TransferPolicy | None:
        return next((p for p in self.policies if p.name == name), None)

    def for_sender(self, sender: Party) -> TransferPolicy | None:
        """The first balance-transfer policy whose selection matches the sender."""
        return next((p for p in self._transfers if p.compiled.selects(sender)), None)

    def for_transfer(self, sender: Party, recipient: Party) -> TransferPolicy | None:
        """Like for_sender, but a foreign recipient prefers a foreign-network policy and a local one a home policy.

        M1 runs M Send Singapore and M Send International for the same senders; the recipient's
        number picks between them. Falls back to for_sender, whose decision then names the reason.
        """
        foreign = bool(self.home_country and recipient.country and recipient.country != self.home_country)
        matching = [p for p in self._transfers if p.compiled.selects(sender)]
        return next((p for p in matching if p.compiled.recipient_foreign == foreign), None) or (
            matching[0] if matching else None
        )

    def for_voucher(self, caller: Party) -> TransferPolicy | None:
        """The pay-card (voucher) policy for a caller of the IVR, when the operator runs one."""
        return next((p for p in self._vouchers if p.compiled.selects(caller)), None)

    @property
    def history_days(self) -> int:
        """Days of transfer history every policy in force needs (what to keep when pruning)."""
        return max([p.history_days for p in self.policies] or [0])


def policies_for(profile: OperatorProfile) -> PolicySet:
    """The presets the profile names under services.transfers, loaded with its currency and zone."""
    return _policies(tuple(profile.services.get(SERVICE, [])), profile.currency, profile.timezone, profile.country)


@functools.lru_cache(maxsize=16)
def _policies(names: tuple[str, ...], currency: Currency, timezone: str, country: str) -> PolicySet:
    return PolicySet([load_preset(name, currency, timezone=timezone) for name in names], home_country=country)
