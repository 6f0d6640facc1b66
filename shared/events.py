"""Payload models of every topic in the catalog, and the envelope that carries them.

A message's data is the JSON of an `Envelope`; its `data` validates against the topic's model
(see catalog.yaml). Integer minor units for money, E.164 strings for MSISDNs, aware datetimes.
"""

from __future__ import annotations

import os
import re
import typing
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared import clock
from shared.consent import Answer, Consent
from shared.msisdn import Msisdn

# Deterministic follow-up ids: the same cause and purpose always give the same id.
_EVENT_NAMESPACE = uuid.UUID("5b0c8f7e-6a0e-4f51-9d7e-2f1c3b8a9e10")


def derive_event_id(cause_id: str, purpose: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{cause_id}/{purpose}"))


# The one clock every function, CLI and emulator reads. Locally (only where the gcloud emulators
# stand in for Google Cloud) this variable shifts it, so tests run at a time they state rather than
# whenever the machine happens to run them (tests/conftest.py); production ignores it.
CLOCK_OFFSET_VARIABLE = "VAS_CLOCK_OFFSET_SECONDS"


def utcnow() -> datetime:
    """Now, in UTC: the machine's clock, shifted and moved (shared/clock.py) on the local stack only.

    "Local" is the one flag that also gives local stand-ins for secrets (settings: VAS_ENV=local),
    so a deployed function can never be told another time.
    """
    now = datetime.now(UTC)
    if os.environ.get("VAS_ENV") != "local":
        return now
    # The session's pinned start (the variable) plus how far `python -m infra.clock` moved it since.
    offset = float(os.environ.get(CLOCK_OFFSET_VARIABLE) or 0) + clock.moved_seconds()
    return now + timedelta(seconds=offset) if offset else now


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Marks a payload field that must never be kept or logged outside its own handling (a pay-card
# code, a PIN): `Field(..., json_schema_extra=SECRET)`. Wherever a message is stored or logged
# (rejected, dead letters), `redacted` blanks such fields; the JSON Schema shows `"secret": true`.
SECRET: dict[str, Any] = {"secret": True}
REDACTED = "[redacted]"


def secret_fields(model: type[BaseModel]) -> set[str]:
    """The names of the fields of `model` marked SECRET."""
    return {
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("secret")
    }


def nested_models(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The fields of `model` that hold another model (`X` or `X | None`), by name."""
    found = {}
    for name, field in model.model_fields.items():
        for candidate in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found[name] = candidate
    return found


def redacted(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """`data` (valid or not) with every value of a field `model` marks SECRET replaced by REDACTED,
    in the models it holds too (a PIN's hash inside an options change)."""
    hidden, inner = secret_fields(model), nested_models(model)
    return {
        key: REDACTED
        if key in hidden and value is not None
        else redacted(inner[key], value)
        if key in inner and isinstance(value, dict)
        else value
        for key, value in data.items()
    }


class Envelope(BaseModel):
    """What travels on every topic: identity, causality and the payload."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(description="The topic name, e.g. sms.send")
    occurred_at: AwareDatetime
    correlation_id: str = Field(min_length=1, max_length=200)
    source: str = Field(default="", description="Who published it: a function or a gateway")
    data: dict[str, Any]


# --- notify -------------------------------------------------------------------------------

Language = Literal["en", "ru", "uz", "ky", "zh"]


class SmsSend(Payload):
    to: Msisdn
    template: str = Field(description="Template key in shared/texts (e.g. balance.report)")
    params: dict[str, Any] = Field(default_factory=dict)
    language: Language | None = Field(default=None, description="Overrides the subscriber's language")
    sender: str | None = Field(default=None, description="Short code or alphanumeric sender id")
    reference: str | None = Field(default=None, description="The business record this SMS is about")
    billing: str | None = Field(
        default=None,
        max_length=64,
        description="Who charges this SMS once its delivery is final (e.g. missed-calls/"
        "reminder); notify then emits sms.final for it",
    )


# One @, a dotted domain, no spaces, within SMTP's 254 characters: enough to refuse a typo in a
# BSS field; the mail provider is the judge of whether the mailbox exists.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def _validate_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("not an email address (name@domain.tld)")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


EmailAddress = Annotated[str, AfterValidator(_validate_email)]
"""A pydantic field type: an email address, its domain lower-cased."""


class EmailSend(Payload):
    """Send a templated email (subject, text and HTML in the reader's language) through notify."""

    to: EmailAddress
    template: str = Field(description="Template key in shared/texts/email.yaml, without .subject/.text/.html")
    params: dict[str, Any] = Field(default_factory=dict)
    language: Language | None = Field(default=None, description="Overrides the subscriber's language")
    msisdn: Msisdn | None = Field(default=None, description="The subscriber it is for: their language is used")
    reference: str | None = Field(default=None, description="The business record this email is about")
    billing: str | None = Field(default=None, max_length=64, description="Who charges this email (kept on its record)")


SmsStatusValue = Literal["queued", "sending", "sent", "delivered", "undelivered", "failed"]


class SmsStatus(Payload):
    message_sid: str
    status: SmsStatusValue
    error_code: str | None = None
    reported_at: AwareDatetime
    message_id: str | None = Field(
        default=None, max_length=64, description="notify's record id, echoed in the signed callback URL"
    )


class SmsFinal(Payload):
    """A billable SMS reached its final status (notify emits it once, with the status update)."""

    message_id: str = Field(min_length=1, max_length=64)
    to: Msisdn
    status: Literal["delivered", "undelivered", "failed"]
    billing: str = Field(min_length=1, max_length=64, description="The SmsSend's billing tag")
    reference: str | None = None
    template: str
    segments: int = Field(ge=1)
    at: AwareDatetime


# --- ledger -------------------------------------------------------------------------------


Direction = Literal["credit", "debit"]


def direction_of(delta: int) -> Direction:
    """A positive change is a credit; a debit, an expiry (negative) or nothing moved is not."""
    return "credit" if delta > 0 else "debit"


class BalanceChanged(Payload):
    msisdn: Msisdn
    bucket: str
    delta: int = Field(description="Minor units; negative for debits and expiries")
    # A message attribute (shared/catalog.yaml) so that a consumer of credits alone filters out the debits.
    direction: Direction = Field(
        default_factory=lambda data: direction_of(data["delta"]), description="credit when delta > 0, else debit"
    )
    balance: int = Field(description="The bucket's balance after the change, minor units")
    total: int = Field(description="All buckets after the change, minor units")
    reason: str
    reference: str
    entry_id: str

    @model_validator(mode="after")
    def _direction_is_the_deltas(self) -> Self:
        if self.direction != direction_of(self.delta):
            raise ValueError(f"direction {self.direction} disagrees with delta {self.delta}")
        return self


class LotExpired(Payload):
    msisdn: Msisdn
    bucket: str
    lot_id: str
    amount: int
    expired_at: AwareDatetime


class ExpireAccount(Payload):
    msisdn: Msisdn
    due_before: AwareDatetime


class ClockTick(Payload):
    at: AwareDatetime | None = None
    cursor: str | None = Field(default=None, description="A paged sweep's continuation: where the last page ended")


# --- BSS provisioning ---------------------------------------------------------------------

SUBSCRIBER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"  # usable in a Firestore document id


class SubscriberProvisioned(Payload):
    msisdn: Msisdn
    subscriber_id: str | None = Field(
        default=None,
        pattern=SUBSCRIBER_ID,
        description="The BSS's id of the customer holding the number; a different "
        "one from the stored id means the number has a new owner",
    )
    new_owner: bool = Field(
        default=False,
        description="The number was given to a new subscriber (recycled), even when the BSS names no subscriber id",
    )
    customer_type: Literal["individual", "corporate"] = "individual"
    line_type: Literal["prepaid", "postpaid"] = "prepaid"
    language: Language | None = None
    tariff_plan: str = "standard"
    status: Literal["active", "blocked"] = "active"
    name: str | None = None
    email: EmailAddress | None = Field(default=None, description="Where notices go by email; None keeps the stored one")
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        description="The BSS's region of the line (campaign targeting)",
    )
    attributes: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")], Annotated[str, Field(max_length=60)]] = (
        Field(
            default_factory=dict,
            max_length=30,
            description="The BSS's segment tags (arpu_band: low, device: smartphone …) campaigns target",
        )
    )


class SubscriberReassigned(Payload):
    """The BSS gave a number to a new owner: each service archives what belonged to the old one."""

    msisdn: Msisdn
    old_subscriber_id: str | None = Field(default=None, pattern=SUBSCRIBER_ID)
    new_subscriber_id: str | None = Field(default=None, pattern=SUBSCRIBER_ID)
    archive_id: str = Field(
        min_length=1,
        max_length=200,
        description="former_owners/{archive_id}: where every service files the old owner's data",
    )
    effective_at: AwareDatetime = Field(description="From then on the number is the new owner's")


class TopUp(Payload):
    msisdn: Msisdn
    amount: int = Field(gt=0, description="Minor units")
    bucket: str = "main"
    validity_days: int | None = Field(default=None, gt=0, description="None: the lot never expires")
    reference: str = Field(min_length=1, description="The BSS's own id for this recharge")
    channel: str = "bss"


class NetworkAttachment(Payload):
    msisdn: Msisdn
    state: Literal["attached", "detached"]
    at: AwareDatetime
    roaming: bool = False


# --- balance transfers --------------------------------------------------------------------

TransferChannel = Literal["ussd", "sms", "menu"]


class TransferRequested(Payload):
    """A subscriber asks to send part of their balance to another subscriber."""

    request_id: str = Field(
        min_length=1, max_length=200, description="Gateway session / SMS id: one transfer per request"
    )
    channel: TransferChannel
    sender: Msisdn
    recipient: Msisdn
    amount: int = Field(gt=0, description="Minor units")
    requested_at: AwareDatetime


# The channel of a top-up request made through a zero-balance offer (functions/zero_balance): its
# caller has no balance, so the transfers service asks for no fee.
ZERO_BALANCE_CHANNEL = "zero-balance"


class TopUpAsked(Payload):
    """A subscriber asks another to top them up (*116*MSISDN*amount#)."""

    request_id: str = Field(min_length=1, max_length=200)
    channel: TransferChannel | Literal["zero-balance"]  # ZERO_BALANCE_CHANNEL
    requester: Msisdn
    target: Msisdn
    amount: int = Field(gt=0, description="Minor units")
    requested_at: AwareDatetime


class TransferBarChanged(Payload):
    """A subscriber bars (or an operator unbars) their outgoing transfers."""

    request_id: str = Field(min_length=1, max_length=200)
    msisdn: Msisdn
    barred: bool
    channel: str = Field(description="ussd, care (hotline/shop), web")
    requested_at: AwareDatetime


class VoucherIssued(Payload):
    """The BSS loads a pay card (voucher) that a subscriber can activate for another one."""

    serial: str = Field(min_length=1, max_length=64)
    secret_code: str = Field(pattern=r"^[0-9]{6,20}$", json_schema_extra=SECRET)
    amount: int = Field(gt=0, description="Minor units")
    bucket: str = "main"
    validity_days: int | None = Field(default=None, gt=0)


class VoucherRedeemRequested(Payload):
    """A caller keyed a recipient and a voucher's secret code into the pay-card IVR."""

    request_id: str = Field(min_length=1, max_length=200, description="The call's id: one redemption per call")
    caller: Msisdn
    recipient: Msisdn
    card_serial: str = Field(
        pattern=r"^[0-9]{1,20}$",
        description="The serial printed on the card, as keyed (its digits): wrong codes count per card",
    )
    secret_code: str = Field(min_length=1, max_length=40, json_schema_extra=SECRET)
    requested_at: AwareDatetime


ChargedTo = Literal["main", "credits"]


# A number called or texted: digits, an optional leading +, at most 32 characters. Nothing else, so
# what reaches a report (a spreadsheet) can never be read as a formula.
DIALLED_NUMBER = r"^\+?[0-9]{1,31}$"


class UsageCharged(Payload):
    """The charging system debited a subscriber for usage (a call, an SMS, data)."""

    msisdn: Msisdn
    kind: Literal["call", "sms", "data"]
    amount: int = Field(ge=0, description="Minor units")
    reference: str = Field(min_length=1, max_length=200)
    at: AwareDatetime
    # A message attribute (shared/catalog.yaml): provisioning takes "main" usage from the line's
    # balance, communication credits take "credits" usage from the account the line belongs to.
    charged_to: ChargedTo = Field(
        default="main",
        description="The balance the charging system rated the usage against: the line's main balance, "
        "or the communication-credit account the line is a user of",
    )
    destination: str | None = Field(
        default=None,
        pattern=DIALLED_NUMBER,
        description="The number called or texted (E.164 digits); masked in reports",
    )
    duration_seconds: int | None = Field(default=None, ge=0, description="Calls: the billed duration")
    units: int | None = Field(default=None, ge=0, description="SMS: messages (segments); data: kilobytes")


# --- missed-call alerts (spec/missed-calls.md) ---------------------------------------------

ForwardReason = Literal["unreachable", "busy", "no-answer", "unconditional", "unknown"]
CallerChoice = Literal["none", "voicemail", "leave_number", "other_number", "notify_me"]


class MissedCallRecorded(Payload):
    """A forwarded call reached the caller IVR; published again as the caller chooses.

    Every publication of one call carries the whole state so far (same call_sid); the consumer
    keeps the furthest along, so deliveries may come in any order.
    """

    call_sid: str = Field(min_length=1, max_length=64)
    caller: Msisdn
    callee: Msisdn = Field(description="The subscriber whose call was forwarded (Twilio's ForwardedFrom)")
    reason: ForwardReason
    called_at: AwareDatetime
    choice: CallerChoice = "none"
    other_number: Msisdn | None = Field(default=None, description="Key 3: the number the callee should call")
    recording_sid: str | None = Field(default=None, max_length=64, description="Key 1: the voice message")
    recording_url: str | None = Field(default=None, max_length=500)
    recording_seconds: int | None = Field(default=None, ge=0)
    language: Language | None = Field(default=None, description="The caller's language, for key 4's SMS")
    final: bool = Field(
        default=False,
        description="The caller's journey in the IVR is over (a choice completed, "
        "or the menu ended); a callee who is reachable is told now",
    )
    hung_up: bool = Field(
        default=False,
        description="The carrier reported the call's end (its status callback): "
        "the caller left, though the IVR's last publication may "
        "still be on its way",
    )


MissedCallOption = Literal[
    "register",
    "unregister",
    "privacy_on",
    "privacy_off",
    "blacklist_add",
    "blacklist_remove",
    "whitelist_add",
    "whitelist_remove",
    "lists_clear",
    "pin_set",
    "pin_skip_on",
    "pin_skip_off",
]


class PinHash(Payload):
    """A mailbox PIN as stored: scrypt of the digits with a random salt (the digits never travel)."""

    salt: str = Field(pattern=r"^[0-9a-f]{32,128}$")
    hash: str = Field(pattern=r"^[0-9a-f]{32,128}$", json_schema_extra=SECRET)
    n: int = Field(ge=2, description="scrypt cost (a power of two)")
    r: int = Field(ge=1)
    p: int = Field(ge=1)


class MissedCallOptionsChanged(Payload):
    """A subscriber changes their missed-call options (SMS keyword, USSD menu, IVR, web)."""

    request_id: str = Field(min_length=1, max_length=200)
    msisdn: Msisdn
    action: MissedCallOption
    number: Msisdn | None = Field(default=None, description="The caller a list action is about")
    channel: Literal["sms", "ussd", "ivr", "web"]
    requested_at: AwareDatetime
    pin: PinHash | None = Field(default=None, description="pin_set: the new PIN, hashed at the edge")
    said: Answer | None = Field(
        default=None,
        description="register by SMS: the subscriber's message (the request, or the reply to the sign-up question)",
    )
    consent_reply: bool | None = Field(
        default=None, description="register: this SMS answers the waiting sign-up question, yes (true) or no (false)"
    )
    consent: Consent | None = Field(
        default=None, description="register: the sign-up asked and answered in one USSD session"
    )

    @model_validator(mode="after")
    def _fits_the_action(self) -> Self:
        if (self.pin is not None) != (self.action == "pin_set"):
            raise ValueError("a PIN comes with pin_set, and only with it")
        if self.action != "register" and (self.said or self.consent or self.consent_reply is not None):
            raise ValueError("sign-up answers come only with register")
        if self.consent_reply is not None and self.said is None:
            raise ValueError("a reply to the sign-up question carries the message it came in")
        return self


class VoicemailPinEntered(Payload):
    """A caller to the voicemail line keyed a PIN: right or wrong (never the digits)."""

    request_id: str = Field(min_length=1, max_length=200)
    msisdn: Msisdn = Field(description="The mailbox owner the caller claims to be")
    call_sid: str = Field(min_length=1, max_length=64)
    attempt: int = Field(ge=1, le=10, description="Which try within the call")
    right: bool
    locked: bool = Field(
        default=False,
        description="This wrong PIN is the one that used up the mailbox's tries "
        "(the line counts them as it compares): lock and tell the owner",
    )
    at: AwareDatetime


class VoicemailPlayed(Payload):
    """The callee listened to (or deleted) a voice message through the IVR."""

    request_id: str = Field(min_length=1, max_length=200)
    msisdn: Msisdn = Field(description="The mailbox owner (the callee)")
    call_sid: str = Field(min_length=1, max_length=64, description="The missed call that left the message")
    action: Literal["heard", "deleted"]
    at: AwareDatetime


class MissedCallsDue(Payload):
    """Housekeeping work for one subscriber or one voice message, fanned out by the missed-calls clock."""

    msisdn: Msisdn = Field(description="The callee (calls), the registered user (fee), the mailbox owner (voicemail)")
    work: Literal["calls", "fee", "voicemail"] = Field(
        description="calls: deliver (attached) or summarise past retention (away); fee: the month's fee; "
        "voicemail: delete an expired voice message"
    )
    call_sid: str | None = Field(default=None, max_length=64, description="The voice message's call (voicemail)")
    due_before: AwareDatetime


# --- zero-balance callback requests (spec/missed-calls.md, ZeroX) --------------------------


class AttemptRefused(Payload):
    """The network refused a call or SMS because the caller's balance is zero or too low."""

    attempt_id: str = Field(min_length=1, max_length=64)
    caller: Msisdn
    destination: Msisdn
    kind: Literal["call", "sms"]
    indicator: Literal["zero", "insufficient"]
    at: AwareDatetime


class ZeroBalanceAnswered(Payload):
    """The caller answered a zero-balance offer (by SMS key)."""

    request_id: str = Field(min_length=1, max_length=200, description="The answering SMS's id")
    caller: Msisdn
    answer: Literal["callback", "transfer", "no"]
    answered_at: AwareDatetime
    offer_id: str | None = Field(
        default=None,
        max_length=64,
        description="The attempt whose offer was answered; a newer offer is not this answer's",
    )


# --- subscription tracking (spec/subscriptions-and-credits.md) ------------------------------

SubscriptionChannel = Literal["sms", "ussd", "ivr", "web", "api", "care"]


class SubscriptionRequested(Payload):
    """Someone asks to start a product of the catalogue for a subscriber: a keyword, a menu, or another service."""

    request_id: str = Field(min_length=1, max_length=200, description="The SMS's id, the USSD session, the offer's id")
    msisdn: Msisdn
    product: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="A product id of the catalogue")
    channel: SubscriptionChannel
    requested_at: AwareDatetime
    source: str = Field(default="subscriptions", max_length=40, description="The service that asks (voice_plus, ...)")
    said: Answer | None = Field(
        default=None, description="By SMS: the subscriber's message (the request, or the reply to the question)"
    )
    consent_reply: bool | None = Field(
        default=None, description="This SMS answers the waiting question about the product, yes (true) or no (false)"
    )
    consent: Consent | None = Field(
        default=None, description="Asked and answered already (a USSD session, an IVR call): the record to keep"
    )

    @model_validator(mode="after")
    def _reply_has_its_message(self) -> Self:
        if self.consent_reply is not None and self.said is None:
            raise ValueError("a reply to the question carries the message it came in")
        return self


class PlanChangeRequested(Payload):
    """A subscriber asks to move to another tariff plan (M1's #100#), confirmed in the USSD session."""

    request_id: str = Field(min_length=1, max_length=200)
    msisdn: Msisdn
    plan: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    channel: SubscriptionChannel
    requested_at: AwareDatetime
    source: str = Field(default="subscriptions", max_length=40, description="The service that asks (voice_plus, ...)")
    consent: Consent | None = Field(default=None, description="The fee named and confirmed (a paid change)")


class SubscriptionCancelRequested(Payload):
    """A subscriber (or care, for them) stops one subscription, or all of them."""

    request_id: str = Field(min_length=1, max_length=200)
    msisdn: Msisdn
    subscription_ids: list[str] = Field(default_factory=list, max_length=50, description="Empty with every=true")
    every: bool = Field(default=False, description="STOP ALL")
    channel: SubscriptionChannel
    requested_at: AwareDatetime
    by: str | None = Field(default=None, max_length=80, description="care: the agent who cancelled")

    @model_validator(mode="after")
    def _names_what_to_stop(self) -> Self:
        if self.every == bool(self.subscription_ids):
            raise ValueError("name the subscriptions to stop, or every=true, not both")
        return self


class SubscriptionFact(Payload):
    """What happened to one subscription (subscription.started / renewed / renewal-failed / suspended / cancelled)."""

    subscription_id: str = Field(min_length=1, max_length=200)
    msisdn: Msisdn
    product: str
    status: Literal["trial", "active", "grace", "suspended", "cancelled", "expired"]
    price: int = Field(ge=0, description="Minor units: charged (started, renewed) or due (renewal-failed)")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    at: AwareDatetime
    next_charge_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=200, description="Why it failed, was suspended or cancelled")


class SubscriptionRequestDecided(Payload):
    """What became of a request to start a product or change plan: the asking service counts its offers by it."""

    request_id: str = Field(min_length=1, max_length=200)
    msisdn: Msisdn
    product: str = Field(description="The product id, or the plan id of a plan change")
    kind: Literal["product", "plan"]
    source: str = Field(max_length=40, description="The service that asked (a Pub/Sub attribute: voice_plus, ...)")
    channel: SubscriptionChannel
    outcome: str = Field(
        max_length=80, description="started, changed, asked, declined, expired or refused:<reason> (subscribe.py)"
    )
    decided_at: AwareDatetime


class SubscriptionsDue(Payload):
    """A subscriber whose subscriptions have work due (renewal, retry, reminder, notice, summary), from the clock."""

    msisdn: Msisdn
    due_before: AwareDatetime


# --- communication credits (spec/subscriptions-and-credits.md, Teams "Communications Credits") ---

# A credit account's id: a business account's slug (starts with a letter: "acme-contact"), or an
# individual subscriber's MSISDN digits (their line is the account's one user).
CreditAccountId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
ChargeReason = Literal["auto", "manual", "network"]
ChargeChannel = Literal["api", "ussd", "care", "auto", "network"]


class CreditsSettle(Payload):
    """Usage of a credit account is waiting: apply it to the account's credits, in one batch."""

    account_id: CreditAccountId


class CreditChargeRequested(Payload):
    """Charge the card on file and credit the account once the payment is confirmed."""

    account_id: CreditAccountId
    charge_id: str = Field(
        pattern=r"^[A-Za-z0-9._:-]{1,120}$",
        description="Stable per recharge: the crossing (auto), the API's idempotency key or the USSD session "
        "(manual), the refused attempt (network); one charge id is credited at most once",
    )
    amount: int = Field(gt=0, description="Minor units of the account's currency")
    reason: ChargeReason
    channel: ChargeChannel
    attempt: int = Field(default=1, ge=1, le=20, description="Retries of a failed auto-recharge count up")
    requested_by: str | None = Field(
        default=None, max_length=120, description="The API key's prefix, an MSISDN, care's user"
    )
    requested_at: AwareDatetime


class PaymentReported(Payload):
    """The payment gateway reported a payment's outcome (its signed webhook, verified)."""

    gateway_event: str = Field(min_length=1, max_length=120, description="The gateway's event id")
    payment_intent: str = Field(min_length=1, max_length=120)
    status: Literal["succeeded", "failed"]
    account_id: CreditAccountId
    charge_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,120}$")
    attempt: int = Field(default=1, ge=1, le=20)
    amount: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    failure_code: str | None = Field(default=None, max_length=80)
    failure_message: str | None = Field(default=None, max_length=300)


class CreditsDue(Payload):
    """A credit account has work due (an expiry notice, an expiry, a recharge retry), from the clock."""

    account_id: CreditAccountId
    due_before: AwareDatetime


class CreditsChanged(Payload):
    """A credit account's balance changed (purchase, usage, expiry); one event per ledger entry."""

    account_id: CreditAccountId
    delta: int = Field(description="Minor units; negative for usage and expiry")
    balance: int = Field(description="The credits after the change, minor units")
    reason: str
    reference: str
    entry_id: str


class CreditsExpired(Payload):
    """Credits of one purchase reached 12 months and were forfeited."""

    account_id: CreditAccountId
    lot_id: str
    amount: int = Field(gt=0)
    purchased_at: AwareDatetime
    expired_at: AwareDatetime


class CreditCardOnFile(Payload):
    """A card the gateway attached: its token, brand and last four digits only, never its number."""

    token: str = Field(min_length=1, max_length=120, description="The gateway's payment method id")
    brand: str = Field(max_length=32)
    last4: str = Field(pattern=r"^[0-9]{4}$")


class CreditsSettingsRequested(Payload):
    """The holder changed auto-recharge settings or the card on file (the business API, care).

    Settings left out keep their value; the service merges and checks them against the preset's
    limits in the transaction that applies them, and starts a recharge when the balance is already
    below the (new) trigger.
    """

    request_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,160}$")
    account_id: CreditAccountId
    enabled: bool | None = None
    trigger: int | None = Field(default=None, gt=0, description="Minor units")
    amount: int | None = Field(default=None, gt=0, description="Minor units")
    monthly_max_count: int | None = Field(default=None, ge=1)
    monthly_max_amount: int | None = Field(default=None, gt=0, description="Minor units")
    card: CreditCardOnFile | None = None
    customer: str | None = Field(default=None, max_length=120, description="The gateway's customer the card is on")
    channel: Literal["api", "care"]
    requested_by: str | None = Field(default=None, max_length=120, description="The API key's prefix, care's user")
    requested_at: AwareDatetime


# --- operations ---------------------------------------------------------------------------


class DeadLetter(Payload):
    """Dead-lettered messages keep their original envelope; this model documents that."""

    model_config = ConfigDict(extra="allow", frozen=True)


# --- Voice+ and add-on offers (spec/voice-plus.md; functions/voice_plus/) ---

OfferChannel = Literal["voice", "ussd", "sms"]
CampaignId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]
# One offer made to one subscriber: the channel and its reference (the call's sid, the USSD session,
# the top-up's BSS reference). The reservation of the play (functions/voice_plus/caps.py) and every
# later step of that offer name it.
OfferId = Annotated[str, Field(pattern=r"^(voice|ussd|sms):[A-Za-z0-9._:-]{1,150}$")]
FunnelStep = Literal[
    "offered",  # chosen and reserved for this call / USSD answer / top-up SMS (counts against the cap)
    "played",  # the offer heard again (key 9) or its information (key 2) shown/played
    "key",  # a key pressed (or keyword sent) in answer to the offer
    "confirmation",  # the confirmation step answered yes
    "declined",  # the confirmation step answered no (or not at all): the consent kept as declined
    "accepted",  # the offer accepted: subscription.requested (or a plan change) published
    "activated",  # subscriptions started it
    "failed",  # subscriptions refused it (balance, already subscribed …), or the budget was spent
    "hangup",  # the caller hung up during the offer, before accepting
]


class OfferFunnel(Payload):
    """One step of one offer: the statistics count it (sharded per campaign, language and day) and log it."""

    offer_id: OfferId
    campaign_id: CampaignId
    channel: OfferChannel
    language: Language
    msisdn: Msisdn
    step: FunnelStep
    at: AwareDatetime
    detail: str | None = Field(default=None, max_length=80, description="The key pressed, the refusal's reason …")


class OfferAccepted(Payload):
    """A subscriber accepted (or at the confirmation step declined) an offer: the consent, both answers in it."""

    offer_id: OfferId
    campaign_id: CampaignId
    channel: OfferChannel
    msisdn: Msisdn
    language: Language
    consent: Consent = Field(description="confirmed: activate; declined: keep the record, activate nothing")
    accepted_at: AwareDatetime


class OfferSmsReplied(Payload):
    """A subscriber's SMS to the offers' short code: the offer's keyword, or YES/NO to its confirmation question."""

    msisdn: Msisdn
    said: Answer
    consent_reply: bool | None = Field(default=None, description="YES (true) / NO (false) to the waiting question")


MODELS: dict[str, type[Payload]] = {
    cls.__name__: cls
    for cls in (
        SmsSend,
        EmailSend,
        SmsStatus,
        BalanceChanged,
        LotExpired,
        ExpireAccount,
        ClockTick,
        SubscriberProvisioned,
        SubscriberReassigned,
        TopUp,
        NetworkAttachment,
        DeadLetter,
        TransferRequested,
        TopUpAsked,
        TransferBarChanged,
        VoucherIssued,
        VoucherRedeemRequested,
        UsageCharged,
        SmsFinal,
        MissedCallRecorded,
        MissedCallOptionsChanged,
        VoicemailPlayed,
        VoicemailPinEntered,
        AttemptRefused,
        ZeroBalanceAnswered,
        SubscriptionRequested,
        PlanChangeRequested,
        SubscriptionCancelRequested,
        SubscriptionFact,
        SubscriptionsDue,
        MissedCallsDue,
        CreditsSettle,
        CreditChargeRequested,
        PaymentReported,
        CreditsDue,
        CreditsChanged,
        CreditsExpired,
        CreditsSettingsRequested,
        SubscriptionRequestDecided,
        OfferFunnel,
        OfferAccepted,
        OfferSmsReplied,
    )
}
