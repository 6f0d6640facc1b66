"""Whether a transfer may happen under a policy, and what it will do (pure, fast: no I/O, no pydantic per call).

`decide` checks in the order that gives the subscriber the most useful reason first: a number
that passed to a new owner after the request was made, the bar, the sender, the recipient, the
amount, the sender's eligibility, the limits, then the balance.
It returns a `Quote` (what an accepted transfer moves) or a `Refusal` (a code and the values its
text needs). Callers decide twice: the edge on a fresh read to answer at once, execution inside
the transaction, authoritatively.

Refusal codes and their params (texts: functions/transfers/texts/transfers.yaml, key `transfer.refused.<code>`).
Money params are ints in minor units (format with the operator currency); times are ISO 8601
strings in UTC (format with shared.localtime); every other param is a string or an int.

  owner_changed               {since}                              asked before the requester's number passed
                                                                   to its present owner (a recycled number)
  recipient_owner_changed     {recipient, since}                   the recipient's number passed to a new owner
                                                                   after the request was made
  barred                      {}                                   sender barred their outgoing transfers
  sender_not_allowed          {reason}  reason: unknown | customer_type | line_type | tariff_plan
  sender_blocked              {}                                   sender's line is not active
  sender_roaming              {}                                   sender is roaming and the policy forbids it
  same_party                  {}                                   sender and recipient are the same number
  recipient_unknown           {recipient}                          not a subscriber of this operator
  recipient_not_prepaid       {recipient}                          the policy credits prepaid lines only
  recipient_not_allowed       {recipient, reason}  reason: status | customer_type | line_type | roaming
  network_not_allowed         {recipient, countries}               countries: "BD, CN, IN, ..." (ISO codes)
  amount_not_allowed          {amount, amounts, minimum, maximum}  amounts: "2 500, 5 000 so'm" (formatted)
  not_eligible_yet            {step, must_spend, spent, left_to_spend}
                              step: first_call | first_topup | spending
  daily_limit / monthly_limit / rolling_limit          amount caps of the sender
  daily_count / monthly_count / rolling_count          count caps of the sender
  recipient_daily_limit, recipient_monthly_limit, recipient_rolling_limit,
  recipient_daily_count, recipient_monthly_count, recipient_rolling_count   the same for the recipient
                              all limits: {limit, used, left, days, resets_at}
                              limit/used/left: minor units for *_limit, transfers for *_count;
                              days: the rolling window (0 for calendar limits); resets_at: when it frees up
  insufficient_balance        {balance, required, fee}             required = amount + fee
  below_minimum_balance       {minimum, balance, required, fee, max_sendable}   keep at least `minimum`
  balance_not_above_minimum   {minimum, balance, required, fee, max_sendable}   keep more than `minimum`
                              required: the balance the transfer needs; max_sendable: the largest
                              allowed amount that would pass now (0: none)
  service_not_offered         {}                                   e.g. top-up requests are off for this policy
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.transfers import limits as windows
from functions.transfers.limits import LimitLeft, Movement
from functions.transfers.parties import Party
from functions.transfers.policy import Compiled, TransferPolicy
from shared import archive

__all__ = [
    "NO_POLICY",
    "History",
    "LimitLeft",
    "Movement",
    "Party",
    "Quote",
    "Refusal",
    "decide",
    "decide_top_up_ask",
    "decide_voucher",
    "limits_left",
]


def _movements(items: Iterable[Mapping[str, Any]] | None) -> tuple[Movement, ...]:
    out = []
    for item in items or ():
        at = item["at"]
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        out.append(Movement(at=at, amount=int(item["amount"])))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class History:
    """A subscriber's recent transfers sent and received (`transfer_history/{msisdn}`), for limits."""

    sent: tuple[Movement, ...] = ()
    received: tuple[Movement, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any] | None) -> History:
        if not doc:
            return cls()
        return cls(sent=_movements(doc.get("sent")), received=_movements(doc.get("received")))

    def to_document(self) -> dict:
        return {
            "sent": [{"at": m.at, "amount": m.amount} for m in self.sent],
            "received": [{"at": m.at, "amount": m.amount} for m in self.received],
        }

    def with_sent(self, at: datetime, amount: int) -> History:
        return History(sent=(*self.sent, Movement(at, amount)), received=self.received)

    def with_received(self, at: datetime, amount: int) -> History:
        return History(sent=self.sent, received=(*self.received, Movement(at, amount)))

    def split(self, at: datetime) -> tuple[History, History]:
        """(the movements before `at`, those from `at` on): a recycled number's old and new owner's."""
        before = History(
            sent=tuple(m for m in self.sent if m.at < at), received=tuple(m for m in self.received if m.at < at)
        )
        return before, History(
            sent=tuple(m for m in self.sent if m.at >= at), received=tuple(m for m in self.received if m.at >= at)
        )

    def pruned(self, now: datetime, keep_days: int) -> History:
        """Without the movements older than `keep_days` (no limit looks at them any more)."""
        cutoff = now - timedelta(days=keep_days)
        return History(
            sent=tuple(m for m in self.sent if m.at > cutoff), received=tuple(m for m in self.received if m.at > cutoff)
        )


EMPTY_HISTORY = History()


@dataclass(frozen=True, slots=True)
class Quote:
    """What an accepted transfer will do: debit amount + fee from one bucket, credit amount to another."""

    amount: int
    fee: int
    debit_bucket: str
    credit_bucket: str
    credit_expires_at: datetime | None
    extends_validity: bool = False
    abroad: bool = False  # foreign-network policy: a partner network credits the recipient, not this ledger

    @property
    def debit(self) -> int:
        return self.amount + self.fee


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why not: a code (`transfer.refused.<code>`) and the values its text needs."""

    code: str
    params: dict[str, str | int] = field(default_factory=dict)


NO_POLICY = Refusal("sender_not_allowed", {"reason": "tariff_plan"})  # no policy of the operator covers the sender


def _iso(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).isoformat()


# --- the checks, in the order subscribers are told -----------------------------------------------


def _owner_refusal(requester: Party, other: Party, requested_at: datetime | None) -> Refusal | None:
    """A request of a recycled number's old owner, or one to a number that has passed to a new owner since.

    Queued requests (a backlog, retries) are decided after the BSS gave a number to someone else:
    the old owner's must not spend the new owner's money, and money meant for the old owner must
    not reach the new one. None `requested_at`: decided as it is made (the edge), nothing to check.
    """
    if requested_at is None:
        return None
    if archive.asked_before_owner(requested_at, requester.owner_since):
        return Refusal("owner_changed", {"since": _iso(requester.owner_since)})
    if other.msisdn != requester.msisdn and archive.asked_before_owner(requested_at, other.owner_since):
        return Refusal("recipient_owner_changed", {"recipient": other.msisdn, "since": _iso(other.owner_since)})
    return None


def _sender_refusal(c: Compiled, sender: Party) -> Refusal | None:
    if not sender.known:
        return Refusal("sender_not_allowed", {"reason": "unknown"})
    if sender.transfers_barred:
        return Refusal("barred", {})
    if sender.status not in c.sender_statuses:
        return Refusal("sender_blocked", {})
    if not c.selects(sender):
        return Refusal("sender_not_allowed", {"reason": "tariff_plan"})
    if sender.customer_type not in c.sender_customers:
        return Refusal("sender_not_allowed", {"reason": "customer_type"})
    if sender.line_type not in c.sender_lines:
        return Refusal("sender_not_allowed", {"reason": "line_type"})
    if sender.roaming and not c.sender_roaming:
        return Refusal("sender_roaming", {})
    return None


def _recipient_refusal(c: Compiled, sender: Party, recipient: Party) -> Refusal | None:
    if recipient.msisdn == sender.msisdn:
        return Refusal("same_party", {})
    return _recipient_checks(c, recipient)


def _recipient_checks(c: Compiled, recipient: Party) -> Refusal | None:
    if c.recipient_foreign:
        if recipient.country not in c.recipient_countries:
            return Refusal(
                "network_not_allowed",
                {"recipient": recipient.msisdn, "countries": ", ".join(sorted(c.recipient_countries))},
            )
        return None  # a foreign operator's subscriber: its line and status are that operator's business
    if not recipient.known:
        return Refusal("recipient_unknown", {"recipient": recipient.msisdn})
    if recipient.status not in c.recipient_statuses:
        return Refusal("recipient_not_allowed", {"recipient": recipient.msisdn, "reason": "status"})
    if recipient.line_type not in c.recipient_lines:
        if c.recipient_lines == {"prepaid"}:
            return Refusal("recipient_not_prepaid", {"recipient": recipient.msisdn})
        return Refusal("recipient_not_allowed", {"recipient": recipient.msisdn, "reason": "line_type"})
    if recipient.customer_type not in c.recipient_customers:
        return Refusal("recipient_not_allowed", {"recipient": recipient.msisdn, "reason": "customer_type"})
    if recipient.roaming and not c.recipient_roaming:
        return Refusal("recipient_not_allowed", {"recipient": recipient.msisdn, "reason": "roaming"})
    return None


def _amount_allowed(c: Compiled, amount: int) -> bool:
    if c.allowed_amounts is not None:
        return amount in c.allowed_amounts
    return c.range_min <= amount <= c.range_max and (amount - c.range_min) % c.range_step == 0


def _amount_refusal(c: Compiled, amount: int) -> Refusal | None:
    if _amount_allowed(c, amount):
        return None
    if c.allowed_amounts is not None:
        low, high = min(c.allowed_amounts), max(c.allowed_amounts)
    else:
        low, high = c.range_min, c.range_max
    return Refusal("amount_not_allowed", {"amount": amount, "amounts": c.amounts_text, "minimum": low, "maximum": high})


def must_spend(c: Compiled, first_topup: int) -> int:
    """The spending a first top-up requires: its row of the table (a smaller top-up uses the lowest row)."""
    required = c.spend_rows[0][1]
    for start, spend in c.spend_rows:
        if first_topup >= start:
            required = spend
    return required


def _eligibility_refusal(c: Compiled, sender: Party) -> Refusal | None:
    if not c.first_call_required and not c.spend_rows:
        return None
    required = must_spend(c, sender.first_topup_amount or 0) if c.spend_rows else 0
    spent = sender.spent_since_first_topup

    def refuse(step: str) -> Refusal:
        return Refusal(
            "not_eligible_yet",
            {"step": step, "must_spend": required, "spent": spent, "left_to_spend": max(0, required - spent)},
        )

    if c.first_call_required and sender.first_call_at is None:
        return refuse("first_call")
    if c.spend_rows:
        if sender.first_topup_amount is None:
            return refuse("first_topup")
        if spent < required:
            return refuse("spending")
    return None


def _limit_refusal(
    c: Compiled, amount: int, sender_history: History, recipient_history: History, now: datetime
) -> Refusal | None:
    for limit in c.limits:
        movements = sender_history.sent if limit.scope == "sender" else recipient_history.received
        rolling = limit.rolling_days is not None
        counted = windows.in_window(movements, windows.window_start(limit, now, c.zone), rolling)
        days = limit.rolling_days or 0
        if limit.max_count is not None and len(counted) >= limit.max_count:
            over = len(counted) - limit.max_count + 1
            resets = windows.frees_at(limit, counted, now, c.zone, count_over=over)
            return Refusal(
                limit.count_code,
                {"limit": limit.max_count, "used": len(counted), "left": 0, "days": days, "resets_at": _iso(resets)},
            )
        if limit.max_amount is not None:
            used = sum(m.amount for m in counted)
            if used + amount > limit.max_amount:
                resets = windows.frees_at(
                    limit, counted, now, c.zone, count_over=0, amount_over=used + amount - limit.max_amount
                )
                return Refusal(
                    limit.amount_code,
                    {
                        "limit": limit.max_amount,
                        "used": used,
                        "left": max(0, limit.max_amount - used),
                        "days": days,
                        "resets_at": _iso(resets),
                    },
                )
    return None


def _passes_balance(c: Compiled, amount: int, balances: Mapping[str, int]) -> bool:
    debit = amount + c.fee
    if balances.get(c.debit_bucket, 0) < debit:
        return False
    if c.minimum is None:
        return True
    after = balances.get(c.minimum_bucket, 0) - (debit if c.minimum_bucket == c.debit_bucket else 0)
    return after > c.minimum if c.minimum_strict else after >= c.minimum


def _max_sendable(c: Compiled, balances: Mapping[str, int]) -> int:
    if c.allowed_amounts is not None:
        return max((a for a in c.allowed_amounts if _passes_balance(c, a, balances)), default=0)
    have = balances.get(c.debit_bucket, 0)
    if c.minimum is not None and c.minimum_bucket == c.debit_bucket:
        have -= c.minimum + (1 if c.minimum_strict else 0)
    elif c.minimum is not None and not _passes_balance(c, c.range_min, balances):
        return 0
    top = min(c.range_max, have - c.fee)
    if top < c.range_min:
        return 0
    return top - (top - c.range_min) % c.range_step


def _balance_refusal(c: Compiled, amount: int, balances: Mapping[str, int]) -> Refusal | None:
    if _passes_balance(c, amount, balances):
        return None
    debit = amount + c.fee
    if c.minimum is None:
        return Refusal(
            "insufficient_balance", {"balance": balances.get(c.debit_bucket, 0), "required": debit, "fee": c.fee}
        )
    same = c.minimum_bucket == c.debit_bucket
    required = (debit if same else 0) + c.minimum + (1 if c.minimum_strict else 0)
    return Refusal(
        "balance_not_above_minimum" if c.minimum_strict else "below_minimum_balance",
        {
            "minimum": c.minimum,
            "balance": balances.get(c.minimum_bucket, 0),
            "required": required,
            "fee": c.fee,
            "max_sendable": _max_sendable(c, balances),
        },
    )


def decide(
    policy: TransferPolicy,
    *,
    sender: Party,
    recipient: Party,
    amount: int,
    balances: Mapping[str, int],
    sender_history: History,
    recipient_history: History,
    now: datetime,
    requested_at: datetime | None = None,
) -> Quote | Refusal:
    """Accept (a Quote) or refuse (a Refusal with the reason to tell the sender) one transfer made at `requested_at`."""
    c = policy.compiled
    refusal = (
        _owner_refusal(sender, recipient, requested_at)
        or _sender_refusal(c, sender)
        or _recipient_refusal(c, sender, recipient)
        or _amount_refusal(c, amount)
        or _eligibility_refusal(c, sender)
        or _limit_refusal(c, amount, sender_history, recipient_history, now)
        or _balance_refusal(c, amount, balances)
    )
    if refusal is not None:
        return refusal
    expires = None if c.credit_validity_days is None else now + timedelta(days=c.credit_validity_days)
    return Quote(
        amount=amount,
        fee=c.fee,
        debit_bucket=c.debit_bucket,
        credit_bucket=c.credit_bucket,
        credit_expires_at=expires,
        extends_validity=c.extends_validity,
        abroad=c.recipient_foreign,
    )


def limits_left(policy: TransferPolicy, history: History, now: datetime, scope: str = "sender") -> list[LimitLeft]:
    """Each limit of `scope` with what is used and left now (sender: transfers sent; recipient: received)."""
    c = policy.compiled
    movements = history.sent if scope == "sender" else history.received
    return [windows.left(limit, movements, now, c.zone) for limit in c.limits if limit.scope == scope]


def decide_top_up_ask(
    policy: TransferPolicy,
    *,
    requester: Party,
    target: Party,
    amount: int,
    balances: Mapping[str, int],
    fee_waived: bool = False,
    requested_at: datetime | None = None,
) -> Quote | Refusal:
    """`*116*`: may `requester` ask `target` for `amount`; the Quote's fee is what the request costs.

    `fee_waived`: the request comes from a zero-balance offer (ZeroX), whose caller cannot pay.
    """
    c, ask = policy.compiled, policy.topup_request
    fee = 0 if fee_waived else ask.fee
    if not ask.enabled:
        return Refusal("service_not_offered", {})
    refusal = _owner_refusal(requester, target, requested_at)
    if refusal is not None:
        return refusal
    if not requester.known:
        return Refusal("sender_not_allowed", {"reason": "unknown"})
    if requester.status not in c.sender_statuses:
        return Refusal("sender_blocked", {})
    if requester.msisdn == target.msisdn:
        return Refusal("same_party", {})
    if not target.known:
        return Refusal("recipient_unknown", {"recipient": target.msisdn})
    refusal = _amount_refusal(c, amount)  # ask only for what the target could actually send
    if refusal is not None:
        return refusal
    if balances.get(c.debit_bucket, 0) < fee:
        return Refusal(
            "insufficient_balance", {"balance": balances.get(c.debit_bucket, 0), "required": fee, "fee": fee}
        )
    return Quote(amount=amount, fee=fee, debit_bucket=c.debit_bucket, credit_bucket="", credit_expires_at=None)


def decide_voucher(
    policy: TransferPolicy, *, caller: Party, recipient: Party, requested_at: datetime | None = None
) -> Refusal | None:
    """Pay card for another (IVR 0670): None when `caller` may activate a card in favour of `recipient`.

    The card's own amount, bucket and validity apply; the caller's balance is not touched.
    """
    c = policy.compiled
    refusal = _owner_refusal(caller, recipient, requested_at)
    if refusal is not None:
        return refusal
    if not caller.known:
        return Refusal("sender_not_allowed", {"reason": "unknown"})
    if caller.status not in c.sender_statuses:
        return Refusal("sender_blocked", {})
    if caller.customer_type not in c.sender_customers:
        return Refusal("sender_not_allowed", {"reason": "customer_type"})
    if caller.line_type not in c.sender_lines:
        return Refusal("sender_not_allowed", {"reason": "line_type"})
    if caller.roaming and not c.sender_roaming:
        return Refusal("sender_roaming", {})
    return _recipient_checks(c, recipient)  # a card for yourself is allowed: an ordinary top-up
