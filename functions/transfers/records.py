"""Human references and the records kept under them (pure: no I/O).

A reference is what a subscriber reads out to customer care: `TR-7K3Q-9XPA`. It is derived from
the request's event id, so a redelivered request finds the same reference, and written in
Crockford's base 32 (no I, L, O or U), so nothing in it can be misread; care types it back in any
case, with O for 0 and I or L for 1, and `normalise` repairs it. Forty bits leave collisions
rare, not impossible: candidates are tried in order (`candidates`) and the first reference not
held by another request is taken, still deterministically.

`transfers/{reference}` is the record of every request that moved (or was refused to move)
money: a transfer, a pay-card activation, a paid top-up request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32
CODE_LENGTH = 8  # 40 bits
MAX_CANDIDATES = 8  # eight 40-bit collisions in a row do not happen; more would be a bug

Kind = Literal["transfer", "voucher", "topup_request"]
PREFIXES: dict[str, str] = {"transfer": "TR", "voucher": "PC", "topup_request": "TU"}
_KIND_OF_PREFIX = {prefix: kind for kind, prefix in PREFIXES.items()}
_MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def reference(kind: Kind, event_id: str, attempt: int = 0) -> str:
    """The `attempt`-th candidate reference of a request: 'TR-7K3Q-9XPA'."""
    digest = hashlib.sha256(f"{kind}/{event_id}/{attempt}".encode()).digest()
    number = int.from_bytes(digest[:5], "big")
    code = "".join(ALPHABET[(number >> shift) & 31] for shift in range(35, -1, -5))
    return f"{PREFIXES[kind]}-{code[:4]}-{code[4:]}"


def candidates(kind: Kind, event_id: str) -> Iterator[str]:
    """The references a request may take, in the order it tries them."""
    return (reference(kind, event_id, attempt) for attempt in range(MAX_CANDIDATES))


def normalise(text: str) -> str:
    """A reference as someone typed it ('tr 7k3q 9xpa', 'TR7K3Q9XPA') in its written form; ValueError if not one."""
    compact = "".join(ch for ch in text.upper() if ch.isalnum())
    prefix, code = compact[:2], compact[2:].translate(_MISREAD)
    if prefix not in _KIND_OF_PREFIX or len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        raise ValueError(f"{text!r} is not a reference (they look like TR-7K3Q-9XPA)")
    return f"{prefix}-{code[:4]}-{code[4:]}"


def kind_of(ref: str) -> str:
    return _KIND_OF_PREFIX[ref[:2]]


def taken_by_another(record: Mapping[str, Any] | None, event_id: str) -> bool:
    """Whether a stored record under a candidate reference belongs to a different request."""
    return record is not None and record.get("event_id") != event_id


def transfer_record(
    *,
    ref: str,
    event_id: str,
    request_id: str,
    channel: str,
    sender: str,
    recipient: str,
    amount: int,
    requested_at: datetime,
    now: datetime,
    policy: str | None,
    fee: int = 0,
    debit_bucket: str | None = None,
    credit_bucket: str | None = None,
    credit_expires_at: datetime | None = None,
    sender_balance_after: int | None = None,
    recipient_credited: bool = True,
    refusal_code: str | None = None,
    refusal_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `transfers/{reference}` document of a transfer request, accepted or refused."""
    return {
        "reference": ref,
        "kind": "transfer",
        "status": "refused" if refusal_code else "accepted",
        "refusal_code": refusal_code,
        "refusal_params": dict(refusal_params or {}),
        "sender": sender,
        "recipient": recipient,
        "parties": [sender, recipient],
        "amount": amount,
        "fee": fee if not refusal_code else 0,
        "debit_bucket": debit_bucket,
        "credit_bucket": credit_bucket,
        "credit_expires_at": credit_expires_at,
        # False when the recipient is on a partner network: the money leaves our ledger for settlement.
        "recipient_credited": recipient_credited and not refusal_code,
        "sender_balance_after": sender_balance_after,
        "policy": policy,
        "channel": channel,
        "request_id": request_id,
        "event_id": event_id,
        "requested_at": requested_at,
        "at": now,
    }


def voucher_record(
    *,
    ref: str,
    event_id: str,
    request_id: str,
    caller: str,
    recipient: str,
    now: datetime,
    requested_at: datetime,
    serial: str | None = None,
    amount: int = 0,
    bucket: str | None = None,
    credit_expires_at: datetime | None = None,
    refusal_code: str | None = None,
) -> dict[str, Any]:
    """The `transfers/{reference}` document of a pay-card activation (IVR 0670), done or refused."""
    return {
        "reference": ref,
        "kind": "voucher",
        "status": "refused" if refusal_code else "accepted",
        "refusal_code": refusal_code,
        "refusal_params": {},
        "sender": caller,
        "recipient": recipient,
        "parties": [caller, recipient],
        "amount": amount if not refusal_code else 0,
        "fee": 0,
        "voucher_serial": serial,
        "debit_bucket": None,
        "credit_bucket": bucket,
        "credit_expires_at": credit_expires_at,
        "recipient_credited": not refusal_code,
        "sender_balance_after": None,
        "policy": None,
        "channel": "ivr",
        "request_id": request_id,
        "event_id": event_id,
        "requested_at": requested_at,
        "at": now,
    }


def topup_request_record(
    *,
    ref: str,
    event_id: str,
    request_id: str,
    channel: str,
    requester: str,
    target: str,
    amount: int,
    fee: int,
    bucket: str | None,
    balance_after: int | None,
    policy: str | None,
    requested_at: datetime,
    now: datetime,
    refusal_code: str | None = None,
    refusal_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `transfers/{reference}` document of a top-up request (*116*): the fee it cost, or why not."""
    return {
        "reference": ref,
        "kind": "topup_request",
        "status": "refused" if refusal_code else "accepted",
        "refusal_code": refusal_code,
        "refusal_params": dict(refusal_params or {}),
        "sender": requester,
        "recipient": target,
        "parties": [requester, target],
        "amount": amount,
        "fee": fee if not refusal_code else 0,
        "debit_bucket": bucket,
        "credit_bucket": None,
        "credit_expires_at": None,
        "recipient_credited": False,
        "sender_balance_after": balance_after,
        "policy": policy,
        "channel": channel,
        "request_id": request_id,
        "event_id": event_id,
        "requested_at": requested_at,
        "at": now,
    }
