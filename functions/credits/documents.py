"""Where communication credits keep their state in Firestore, and what each document holds.

credit_accounts/{account_id}   one credit account (`CreditAccount`): who holds it (a business with
    users, or an individual subscriber), its email and language, the card on file (the gateway's
    token, brand and last four digits only), the auto-recharge settings and the recharge state
    machine, and its ledger (`ledger`: shared/ledger.py's account document, one bucket `credits`,
    lots expiring 12 months after purchase). `next_due_at` is the earliest moment the clock's
    sweep has work on it (an expiry notice, an expiry, a recharge retry). Its ledger entries are
    `credit_accounts/{account_id}/entries/{entry_id}`, immutable, like every ledger's.

credit_users/{msisdn}          which account a line's usage is charged to: account_id, name, added_at.

credit_usage/{reference}       one usage record per charging-system reference (a call, an SMS):
    written when the usage arrives (any rate: one document each), applied to the account later
    by the settlement, in batches (`settled`, the lots drawn from, what was short). Hot accounts:
    hundreds of users debit one account at once, and one document takes about one sustained
    write a second, so the account document is written once per batch, not once per usage.

credit_charges/{charge_id}     one card charge (an auto-recharge, a top-up): amount, reason,
    channel, status, attempts (one gateway PaymentIntent each), the failure's code and reason,
    and the ledger entry that credited it. A charge credits the account at most once.

credit_api_keys/{sha256}       business API keys, stored hashed: account_id, prefix (for people to
    tell keys apart), created_at, revoked_at. The key itself is shown once, when it is issued.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events import DIALLED_NUMBER
from shared.msisdn import Msisdn

ACCOUNTS = "credit_accounts"
ENTRIES = "entries"  # subcollection of each account, as in the subscribers' ledger
USERS = "credit_users"
USAGE = "credit_usage"
CHARGES = "credit_charges"
API_KEYS = "credit_api_keys"

AccountKind = Literal["business", "individual"]
Phase = Literal["armed", "pending", "waiting"]
ChargeStatus = Literal["requested", "succeeded", "failed", "requires_action"]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Card(_Document):
    """The card on file, as the gateway describes it: never a card number."""

    token: str = Field(min_length=1, max_length=120, description="The gateway's payment method id")
    brand: str = Field(max_length=32)
    last4: str = Field(pattern=r"^[0-9]{4}$")


class AutoRecharge(_Document):
    """The holder's auto-recharge settings (minor units)."""

    enabled: bool = False
    trigger: int = Field(gt=0, description="Recharge when the balance falls below this")
    amount: int = Field(gt=0, description="What one recharge adds")
    monthly_max_count: int = Field(ge=1)
    monthly_max_amount: int = Field(gt=0)


class RechargeState(_Document):
    """Where the account's auto-recharge stands (functions/credits/recharge.py moves it).

    armed:   the balance is at or above the trigger; falling below it starts one recharge.
    pending: a recharge of this crossing is under way (asked, paid, retried); no other starts.
    waiting: this crossing's recharge ended (credited, capped, or failed for good); the next one
             starts only after the balance is back at or above the trigger (re-armed), or, when
             the monthly cap ended it, in the next month (`capped_month`).
    """

    phase: Phase = "armed"
    crossings: int = Field(default=0, ge=0, description="Recharges started so far; names each one's charge id")
    charge_id: str | None = Field(default=None, description="The recharge under way or last started")
    amount: int | None = Field(default=None, gt=0, description="What that recharge charges (its charge's amount)")
    attempt: int = Field(default=0, ge=0, description="Gateway attempts of that recharge")
    asked_at: AwareDatetime | None = Field(default=None, description="When its current attempt was last requested")
    failures: int = Field(default=0, ge=0, description="Consecutive failed auto-recharges")
    retry_at: AwareDatetime | None = None
    month: str | None = Field(default=None, description="YYYY-MM (operator's zone) the counts below are of")
    month_count: int = Field(default=0, ge=0, description="Auto-recharges credited that month")
    month_amount: int = Field(default=0, ge=0, description="What they added, minor units")
    disabled_reason: str | None = Field(default=None, description="Why auto-recharge turned itself off")
    capped_month: str | None = Field(
        default=None, description="YYYY-MM whose cap ended this crossing (told once); the next month re-arms it"
    )
    zero_notified: bool = Field(default=False, description="The 'balance reached zero' email went; reset by a credit")


class CreditAccount(_Document):
    """One credit account; the ledger part is shared/ledger.py's account document."""

    id: str
    kind: AccountKind
    name: str = Field(min_length=1, max_length=120)
    email: str | None = None
    language: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    owner: Msisdn | None = Field(default=None, description="The individual's line; a business's contact line")
    customer: str | None = Field(default=None, description="The gateway's customer id")
    card: Card | None = None
    auto: AutoRecharge
    recharge: RechargeState = Field(default_factory=RechargeState)
    expiry_notices: list[str] = Field(
        default_factory=list, description="'<lot_id>/<days>' of every expiry notice sent (each once)"
    )
    ledger: dict[str, Any] = Field(description="shared/ledger.py account_to_document of the credits")
    next_due_at: AwareDatetime | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class User(_Document):
    """A line whose credits usage is charged to an account."""

    account_id: str
    msisdn: Msisdn
    name: str | None = Field(default=None, max_length=120)
    added_at: AwareDatetime


class LotDraw(_Document):
    lot_id: str
    amount: int = Field(gt=0)


class Usage(_Document):
    """One usage record (a call, an SMS, data) charged to an account's credits."""

    reference: str
    account_id: str
    msisdn: Msisdn = Field(description="The user whose line it was")
    kind: Literal["call", "sms", "data"]
    destination: str | None = Field(default=None, pattern=DIALLED_NUMBER)
    duration_seconds: int | None = None
    units: int | None = None
    amount: int = Field(ge=0, description="What the charging system rated, minor units")
    at: AwareDatetime
    event_id: str
    settled: bool = False
    settled_at: AwareDatetime | None = None
    debited: int = Field(default=0, ge=0, description="What the credits covered")
    shortfall: int = Field(default=0, ge=0, description="Rated but not covered: the balance never goes below zero")
    lots: list[LotDraw] = Field(default_factory=list, description="The purchases it was drawn from, oldest first")
    entry_id: str | None = Field(default=None, description="The settlement's ledger entry")


class Charge(_Document):
    """One card charge and what became of it."""

    id: str
    account_id: str
    amount: int = Field(gt=0)
    currency: str
    reason: Literal["auto", "manual", "network"]
    channel: str
    status: ChargeStatus = "requested"
    attempt: int = Field(default=1, ge=1)
    customer: str | None = Field(default=None, description="The gateway customer this attempt is charged to")
    card: Card | None = Field(
        default=None,
        description="The card this attempt is charged to, pinned when it opens: a redelivery sends the "
        "gateway the same request under the same idempotency key, even if the card on file changed since",
    )
    payment_intent: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    entry_id: str | None = Field(default=None, description="The ledger entry that credited it (succeeded only)")
    expires_at: AwareDatetime | None = Field(default=None, description="When the credited lot expires")
    requested_by: str | None = None
    requested_at: AwareDatetime
    updated_at: AwareDatetime


def to_document(model: BaseModel) -> dict[str, Any]:
    """A model as Firestore stores it (datetimes stay datetimes)."""
    return model.model_dump(mode="python")
