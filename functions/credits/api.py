"""The business API (webhook `credits-api`): a credit account's balance, lots, top-ups, settings and reports.

Every request carries `Authorization: Bearer <key>` (keys.py); a key that is absent, unknown or
revoked gets 401 and nothing else, whatever the path. Amounts are integer minor units of the
account's currency, as payment APIs count them; times are ISO 8601. Errors are
`{"error": {"message": ...}}`: 400 for bad input (nothing is changed), 404 for what the account
does not have, 409 for what its state does not allow (no card on file), 503 for an outage (retry).

    GET  /v1/account                    balance, auto-recharge and its state, the card (brand, last 4)
    GET  /v1/lots                       each purchase: bought, left, when it expires (oldest first)
    POST /v1/top-ups {amount}           charge the card (Idempotency-Key header) -> 202 {charge_id, status}
    GET  /v1/top-ups/{charge_id}        a charge's status (top-ups and auto-recharges)
    GET  /v1/auto-recharge              the settings, the preset's limits and the recharge state
    PUT  /v1/auto-recharge {...}        change settings (any of enabled, trigger, amount, monthly caps)
    PUT  /v1/card {token}               attach the gateway's card token as the card on file
    GET  /v1/usage.csv?from&to&user     usage records (dates YYYY-MM-DD in the operator's zone, `to` included)
    GET  /v1/statement?month=YYYY-MM    opening, purchases, usage, expiry, closing (the ledger's figures)

A top-up is asked for, not done here: `credits.charge-requested` (charge id from the account and
the Idempotency-Key, so a retried request is one charge), and the charging consumer pays and
credits. Settings and card changes are applied by the `credits-settings` consumer (settings.py),
which this function runs in the request itself, so the answer shows them applied.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import flask
import functions_framework
from flask.typing import ResponseReturnValue
from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from functions.credits import keys, records, report, settings as account_settings, wallet
from functions.credits.accounts import manual_top_up
from functions.credits.config import BUCKET, CreditsConfig, config_for
from functions.credits.documents import ACCOUNTS, CHARGES, ENTRIES, Charge, CreditAccount
from functions.credits.wallet import credits_of
from shared import bus, log, operator, payments, runtime, settings, store
from shared.events import CreditsSettingsRequested, derive_event_id, utcnow
from shared.msisdn import InvalidMsisdn
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.credits.api")

TOP_UPS = "credit_top_ups"  # one per accepted POST /v1/top-ups: its amount, and whether it was published
_MAX_BODY_BYTES = 16 * 1024
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,50}$")  # a UUID fits; the charge id must stay <= 120 characters
# Reports span the years a ledger can hold: 2000 to 2100, so no date arithmetic on them can overflow.
_FIRST_YEAR, _LAST_YEAR = 2000, 2100
_MONTH = re.compile(r"^(20\d\d|2100)-(0[1-9]|1[0-2])$")
# What accounts.manual_top_up and recharges make; never an id Firestore refuses (__x__, "." and "..").
_CHARGE_ID = re.compile(r"^(?!__.*__$)(?!\.{1,2}$)[A-Za-z0-9._:-]{1,120}$")
_MAX_REPORT_DAYS = 366
_PUBLISH_TIMEOUT = 10.0

# Deployed like every webhook (with its public URL) and like every credits function (with the gateway's
# secrets: cards are attached here): without them it refuses to start, rather than answer 503 to every card later.
payments.require_settings("webhook_base_url")

_ROUTES = Map(
    [
        Rule("/v1/account", endpoint="account", methods=["GET"]),
        Rule("/v1/lots", endpoint="lots", methods=["GET"]),
        Rule("/v1/top-ups", endpoint="top_up", methods=["POST"]),
        Rule("/v1/top-ups/<charge_id>", endpoint="top_up_status", methods=["GET"]),
        Rule("/v1/auto-recharge", endpoint="auto_recharge", methods=["GET"]),
        Rule("/v1/auto-recharge", endpoint="change_auto_recharge", methods=["PUT"]),
        Rule("/v1/card", endpoint="attach_card", methods=["PUT"]),
        Rule("/v1/usage.csv", endpoint="usage", methods=["GET"]),
        Rule("/v1/statement", endpoint="statement", methods=["GET"]),
    ]
)


class BadInput(Exception):
    """The request cannot be served as sent (400): the message says what to change."""


class Refused(Exception):
    """A sound request the account's state does not allow, with its HTTP status and reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> ResponseReturnValue:
    return {"error": {"status": status, "message": message}}, status, headers or {}


class Call:
    """One authenticated request: the key's account, the operator, the preset, now.

    A plain class, not a dataclass: functions-framework may load this file under a module name it does
    not register, and dataclasses look their module up to read string annotations.
    """

    def __init__(
        self,
        request: flask.Request,
        key: keys.ApiKey,
        profile: OperatorProfile,
        config: CreditsConfig,
        db: firestore.Client,
        now: datetime,
    ):
        self.request, self.key, self.profile, self.config, self.db, self.now = request, key, profile, config, db, now

    @functools.cached_property
    def account(self) -> CreditAccount:
        found = wallet.read_account(self.db, self.key.account_id)
        if found is None:  # a key outlived its account: nothing to serve
            raise Refused(404, f"credit account {self.key.account_id} no longer exists")
        return found

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.profile.timezone)

    def json_object(self, model: type[BaseModel]) -> Any:
        """The body as `model` (strict JSON types, no unknown fields); BadInput naming what is wrong."""
        body = self.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadInput("the body must be a JSON object (Content-Type: application/json)")
        try:
            return model.model_validate(body)
        except ValidationError as error:
            raise BadInput(_problems(error)) from None


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, item['loc'])) or 'body'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    )


# --- what the API shows ------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _auto_recharge_view(account: CreditAccount, config: CreditsConfig) -> dict[str, Any]:
    state, limits = account.recharge, config.limits
    return {
        **account.auto.model_dump(),
        "limits": {
            "min_amount": limits.min_topup,
            "max_amount": limits.max_topup,
            "max_trigger": limits.max_trigger,
            "max_monthly_count": limits.max_monthly_count,
            "max_monthly_amount": limits.max_monthly_amount,
        },
        "state": {
            "phase": state.phase,
            "charge_id": state.charge_id,
            "consecutive_failures": state.failures,
            "retry_at": _iso(state.retry_at),
            "month": state.month,
            "month_count": state.month_count,
            "month_amount": state.month_amount,
            "disabled_reason": state.disabled_reason,
        },
    }


def _card_view(account: CreditAccount) -> dict[str, Any] | None:
    card = account.card
    if card is None:
        return None
    return {"brand": card.brand, "last4": card.last4}


def account_view(account: CreditAccount, config: CreditsConfig, now: datetime) -> dict[str, Any]:
    """GET /v1/account's body."""
    ledger = credits_of(account, now)
    return {
        "id": account.id,
        "kind": account.kind,
        "name": account.name,
        "currency": account.currency,
        "balance": ledger.balance(BUCKET),
        "next_expiry": _iso(ledger.next_expiry),
        "card": _card_view(account),
        "auto_recharge": _auto_recharge_view(account, config),
    }


def _charge_view(charge: Charge) -> dict[str, Any]:
    return {
        "charge_id": charge.id,
        "amount": charge.amount,
        "currency": charge.currency,
        "reason": charge.reason,
        "channel": charge.channel,
        "status": charge.status,
        "attempt": charge.attempt,
        "failure_code": charge.failure_code,
        "failure_message": charge.failure_message,
        "expires_at": _iso(charge.expires_at),
        "requested_at": _iso(charge.requested_at),
        "updated_at": _iso(charge.updated_at),
    }


# --- GET /v1/account, /v1/lots -------------------------------------------------------------------


def show_account(call: Call) -> ResponseReturnValue:
    return account_view(call.account, call.config, call.now)


def show_lots(call: Call) -> ResponseReturnValue:
    """Each purchase still holding credits, in the order they are spent (oldest first)."""
    ledger = credits_of(call.account, call.now)
    lots = ledger.buckets[BUCKET].lots  # credits_of always holds the bucket, empty or not
    entries = call.db.collection(ACCOUNTS).document(call.account.id).collection(ENTRIES)
    # A lot's id is the id of the entry that credited it: the entry holds what was bought.
    bought = {
        snapshot.id: snapshot.get("delta")
        for snapshot in call.db.get_all([entries.document(lot.id) for lot in lots])
        if snapshot.exists
    }
    return {
        "currency": call.account.currency,
        "lots": [
            {
                "id": lot.id,
                "purchased_at": _iso(lot.credited_at),
                "purchased": bought.get(lot.id),
                "left": lot.amount,
                "expires_at": _iso(lot.expires_at),
            }
            for lot in lots
        ],
    }


# --- POST /v1/top-ups, GET /v1/top-ups/{id} ------------------------------------------------------


class TopUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: StrictInt = Field(description="Minor units")


def top_up(call: Call) -> ResponseReturnValue:
    """Ask for a card charge of `amount`; the same Idempotency-Key is the same charge, asked for once."""
    idempotency_key = call.request.headers.get("Idempotency-Key", "").strip()
    if not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise BadInput(
            "an Idempotency-Key header is required: 8 to 50 letters, digits, '-' or '_' (a UUID), "
            "so that a retried request never charges twice"
        )
    amount = call.json_object(TopUpBody).amount
    limits, money = call.config.limits, call.profile.currency.format
    if not limits.min_topup <= amount <= limits.max_topup:
        raise BadInput(
            f"amount must be between {limits.min_topup} and {limits.max_topup} minor units "
            f"({money(limits.min_topup)} to {money(limits.max_topup)})"
        )
    account = call.account
    if account.card is None:
        raise Refused(409, "no card on file: add one first (PUT /v1/card)")
    asked = manual_top_up(
        account.id, channel="api", request=idempotency_key, amount=amount, by=call.key.prefix, at=call.now
    )
    charge_id = asked.charge_id
    record = _top_up_record(call, charge_id, amount, idempotency_key)
    if record.get("published_at") is None:
        asked = asked.model_copy(update={"requested_at": record["requested_at"]})
        runtime.publish_new(
            "credits.charge-requested",
            asked,
            event_id=derive_event_id(charge_id, "credits-api/charge-requested"),
            source="credits-api",
            timeout=_PUBLISH_TIMEOUT,
            immediate=True,
        )
        call.db.collection(TOP_UPS).document(charge_id).update({"published_at": call.now})
    charge = call.db.collection(CHARGES).document(charge_id).get()
    status = charge.get("status") if charge.exists else "requested"
    return {"charge_id": charge_id, "status": status, "amount": amount, "currency": account.currency}, 202


def _top_up_record(call: Call, charge_id: str, amount: int, idempotency_key: str) -> dict[str, Any]:
    """The request's record, created by its first arrival; a key reused for another amount is refused."""
    ref = call.db.collection(TOP_UPS).document(charge_id)
    record = {
        "account_id": call.account.id,
        "amount": amount,
        "idempotency_key": idempotency_key,
        "requested_by": call.key.prefix,
        "requested_at": call.now,
        "published_at": None,
    }
    try:
        ref.create(record)
        return record
    except AlreadyExists:
        earlier = ref.get().to_dict() or {}
    if earlier.get("amount") != amount:
        raise BadInput(
            f"Idempotency-Key {idempotency_key} was already used for a top-up of {earlier.get('amount')}; "
            "use a new key for a new top-up"
        )
    return earlier


def top_up_status(call: Call, charge_id: str) -> ResponseReturnValue:
    """A charge of this account: its status and, once decided, the outcome."""
    if not _CHARGE_ID.match(charge_id):  # Firestore refuses ids such as __x__: an answer, not an outage
        raise BadInput("a charge id is 1 to 120 letters, digits, '.', '_', ':' or '-', as POST /v1/top-ups gave it")
    snapshot = call.db.collection(CHARGES).document(charge_id).get()
    if snapshot.exists:
        charge = Charge.model_validate(snapshot.to_dict())
        if charge.account_id == call.account.id:
            return _charge_view(charge)
    asked = call.db.collection(TOP_UPS).document(charge_id).get()
    if asked.exists and asked.get("account_id") == call.account.id:  # asked for, not yet taken up
        # Recorded but never published (the publish failed): nothing will charge it until the client retries.
        submitted = asked.get("published_at") is not None
        return {
            "charge_id": charge_id,
            "amount": asked.get("amount"),
            "currency": call.account.currency,
            "status": "requested" if submitted else "not_submitted",
            "requested_at": _iso(asked.get("requested_at")),
            **({} if submitted else {"hint": "send POST /v1/top-ups again with the same Idempotency-Key"}),
        }
    raise Refused(404, f"no charge {charge_id} on this account")


# --- auto-recharge and the card ------------------------------------------------------------------


class AutoRechargeBody(BaseModel):
    """PUT /v1/auto-recharge: any of the settings; what is left out keeps its value."""

    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool | None = None
    trigger: StrictInt | None = None
    amount: StrictInt | None = None
    monthly_max_count: StrictInt | None = None
    monthly_max_amount: StrictInt | None = None


class CardBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: StrictStr = Field(min_length=1, max_length=120, description="The gateway's card token or payment method")


def show_auto_recharge(call: Call) -> ResponseReturnValue:
    return _auto_recharge_view(call.account, call.config)


def change_auto_recharge(call: Call) -> ResponseReturnValue:
    """Apply the settings given (checked against the preset's limits first: a refusal changes nothing)."""
    body = call.json_object(AutoRechargeBody)
    given = body.model_dump(exclude_none=True)
    if not given:
        raise BadInput(f"give at least one of {', '.join(account_settings.SETTINGS)}")
    changed = _apply(call, "settings", **given)
    return _auto_recharge_view(changed, call.config)


def attach_card(call: Call) -> ResponseReturnValue:
    """Attach the gateway's token (the customer is created with the first card) and keep it as the card on file."""
    token = call.json_object(CardBody).token
    try:
        customer, on_file = account_settings.attach_card(call.account, token)
    except payments.CardRefused as refused:
        raise BadInput(f"the card was refused ({refused.code}): {refused.message}") from None
    changed = _apply(call, "card", card=on_file, customer=customer)
    return {"card": _card_view(changed)}


def _apply(call: Call, what: str, **change: Any) -> CreditAccount:
    """Publish the change and apply it in this request (settings.py's consumer, its outbox included).

    A retry with the same Idempotency-Key and body is the same request (applied once); the key reused for
    another change is another request, since a setting holds a value, not an amount to add.
    """
    key = call.request.headers.get("Idempotency-Key", "").strip()
    body = hashlib.sha256(json.dumps(change, sort_keys=True, default=str).encode()).hexdigest()[:12]
    once = f"{key}.{body}" if _IDEMPOTENCY_KEY.match(key) else uuid.uuid4().hex
    request_id = f"{call.account.id}.{what}.{once}"
    asked = CreditsSettingsRequested(
        request_id=request_id,
        account_id=call.account.id,
        channel="api",
        requested_by=call.key.prefix,
        requested_at=call.now,
        **change,
    )
    refused = account_settings.applied(call.account, asked, call.config, call.profile.currency)
    if isinstance(refused, str):  # checked here too, so bad input is a 400 and nothing is published
        raise BadInput(refused)
    envelope = runtime.publish_new(
        account_settings.TOPIC,
        asked,
        event_id=derive_event_id(request_id, "credits-api/settings"),
        source="credits-api",
        timeout=_PUBLISH_TIMEOUT,
        immediate=True,
    )
    data, attributes = bus.encode(envelope)
    outcome = runtime.process(
        account_settings.CONSUMER, account_settings.on_settings_requested.handler, envelope.id, data, attributes
    )
    if outcome == "rejected":  # the account changed between the check above and the transaction
        raise Refused(409, "the account changed meanwhile and the change no longer fits: read it and try again")
    found = wallet.read_account(call.db, call.account.id)
    assert found is not None  # the transaction just read and wrote it
    return found


# --- reports -------------------------------------------------------------------------------------


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{name} must be a date, YYYY-MM-DD") from None
    if not _FIRST_YEAR <= day.year <= _LAST_YEAR:
        raise BadInput(f"{name} must be a date between {_FIRST_YEAR}-01-01 and {_LAST_YEAR}-12-31")
    return day


def usage_export(call: Call) -> ResponseReturnValue:
    """The usage records of a span of days (this month so far by default), all users or one."""
    args, zone = call.request.args, call.zone
    today = call.now.astimezone(zone).date()
    first = _day(args.get("from"), "from") or today.replace(day=1)
    last = _day(args.get("to"), "to") or today
    if last < first or (last - first).days >= _MAX_REPORT_DAYS:
        raise BadInput(f"from must be on or before to, at most {_MAX_REPORT_DAYS} days apart")
    user = None
    if args.get("user"):
        try:
            user = call.profile.msisdn(args["user"])
        except InvalidMsisdn as error:
            raise BadInput(f"user: {error}") from None
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    found = records.usage_records(call.db, call.account.id, start, end, user)
    body = report.usage_csv(found, zone=zone, keep_last=call.config.mask_keep_last, currency=call.profile.currency)
    filename = f"{call.account.id}-usage-{first}-{last}.csv"
    return (
        body,
        200,
        {"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def show_statement(call: Call) -> ResponseReturnValue:
    """A calendar month (the operator's zone) of the ledger: opening, purchases, usage, expiry, closing."""
    month = call.request.args.get("month") or ""
    if not _MONTH.match(month):
        raise BadInput(f"month must be given as YYYY-MM, between {_FIRST_YEAR}-01 and {_LAST_YEAR}-12")
    built = records.statement_of(call.db, call.account.id, month, call.zone)
    return {"account_id": call.account.id, "currency": call.account.currency, **built.as_json()}


# --- the entry point -----------------------------------------------------------------------------

_HANDLERS: dict[str, Callable[..., ResponseReturnValue]] = {
    "account": show_account,
    "lots": show_lots,
    "top_up": top_up,
    "top_up_status": top_up_status,
    "auto_recharge": show_auto_recharge,
    "change_auto_recharge": change_auto_recharge,
    "attach_card": attach_card,
    "usage": usage_export,
    "statement": show_statement,
}


@functions_framework.http
def credits_api(request: flask.Request) -> ResponseReturnValue:
    """One API request: authenticate the key, route, answer (JSON, or CSV for the usage export)."""
    log.setup(settings.get().function or "credits-api", settings.get().log_level)
    request.max_content_length = _MAX_BODY_BYTES
    try:
        key = keys.authenticate(store.db(), keys.bearer_token(request.headers.get("Authorization")))
    except Exception:
        logger.exception("API key could not be checked: Firestore read failed")
        return _error(503, "temporarily unavailable, retry later")
    if key is None:
        return _error(401, "a valid API key is required: Authorization: Bearer <key>", {"WWW-Authenticate": "Bearer"})
    try:
        endpoint, arguments = _ROUTES.bind_to_environ(request.environ).match()
    except NotFound:
        return _error(404, f"no such endpoint: {request.method} {request.path}")
    except MethodNotAllowed as error:
        allowed = ", ".join(error.valid_methods or [])
        return _error(405, f"{request.path} takes {allowed}", {"Allow": allowed})
    profile = operator.current()
    config = config_for(profile)
    if config is None:
        return _error(503, "communication credits are not offered by this operator")
    call = Call(request=request, key=key, profile=profile, config=config, db=store.db(), now=utcnow())
    try:
        return _HANDLERS[endpoint](call, **arguments)
    except BadInput as error:
        return _error(400, str(error))
    except Refused as refusal:
        return _error(refusal.status, str(refusal))
    except HTTPException:
        raise  # 413 (a body over the cap) and friends are already a proper answer
    except Exception:
        logger.exception("credits API request failed", extra={"endpoint": endpoint, "account_id": key.account_id})
        return _error(503, "temporarily unavailable, retry later")
